"""The Compare and Doc-completion tabs' view logic, without a browser: real schema, corpus, runs and model."""
from __future__ import annotations

import json
import shutil

import pytest

from iacdemo.errors import ConfigError, DataError, ModelError
from iacdemo.generation.recording import Recorder
from iacdemo.generation.side_by_side import Column, GenSettings, stream_side_by_side
from iacdemo.hcl.check import check_answer
from iacdemo.ui import compare_views as views
from iacdemo.ui.tabs import compare_tab, evaluate_tab

ORIGINAL_MISTAKE = """Here is the resource:

```hcl
resource "aws_dynamodb_contributor_insight" "example" {
  table_name     = "my-table"
  enable_logging = true
}

resource "aws_dynamodb_contributor_insights" "other" {
  table_name = "my-table"
  region     = "us-east-1"
}
```
"""
GOOD = 'resource "aws_dynamodb_contributor_insights" "test" {\n  table_name = "ExampleTableName"\n}\n'


# ---- checks -------------------------------------------------------------------------------------------------
def test_check_html_names_the_original_experiments_mistakes(schema):
    html = views.check_html(check_answer(ORIGINAL_MISTAKE, schema))
    assert 'data-plannable="false"' in html
    assert "iac-badge-error" in html and "unknown type" in html
    assert "did you mean <code>aws_dynamodb_contributor_insights</code>" in html
    assert "Unsupported argument <code>region</code>" in html
    assert 'class="iac-hl"' in html  # pygments-highlighted code follows the badges


def test_check_html_of_good_unfenced_code_is_plannable(schema):
    html = views.check_html(check_answer("Sure!\n" + GOOD, schema))
    assert 'data-plannable="true"' in html and "✓ parses" in html and "iac-findings" not in html


def test_prose_and_broken_code_get_error_badges(schema):
    prose = views.check_html(check_answer("DynamoDB is a NoSQL database by AWS.", schema))
    assert "no code" in prose and "Extracted HCL" not in prose
    broken = views.check_html(check_answer('```hcl\nresource "aws_s3_bucket" "b" {\n  bucket = \n}\n```', schema))
    assert "does not parse" in broken and "Parse error" in broken and 'class="hll"' in broken


def test_pane_notes_show_retrieved_sources():
    notes = ["Base + retrieved docs: Retrieved docs: website/docs/r/dynamodb_table.html.markdown", "Other note"]
    mine = views.column_notes(notes, "Base + retrieved docs")
    assert mine == ["Retrieved docs: website/docs/r/dynamodb_table.html.markdown"]
    assert views.general_notes(notes, ["Base model", "Base + retrieved docs"]) == ["Other note"]
    assert "<code>website/docs/r/dynamodb_table.html.markdown</code>" in views.pane_notes_html(mine)


# ---- conversations ------------------------------------------------------------------------------------------
def test_pane_messages_accept_gradio6_parts_and_drop_system_turns():
    history = [{"role": "system", "content": "sys"},
               {"role": "user", "content": [{"type": "text", "text": "hi"}]},
               {"role": "assistant", "content": "hello"}]
    assert views.pane_messages(history, "next", "ans") == [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "next"}, {"role": "assistant", "content": "ans"}]


def test_conversation_restarts_when_the_panes_change():
    conv = views.Conversation(labels=["Base model", "Fine-tuned (a)"], histories=[[{"role": "user", "content": "x"}],
                                                                               [{"role": "user", "content": "x"}]])
    assert conv.for_columns(["Base model", "Fine-tuned (a)"]) is conv and conv.turns == 1
    fresh = conv.for_columns(["Base model", "Fine-tuned (b)"])
    assert fresh.histories == [[], []] and fresh.turns == 0


def test_each_pane_continues_its_own_conversation(tiny_session, settings):
    columns = [Column("A", None), Column("B", None)]
    gen = GenSettings(max_new_tokens=4, seed=3)
    histories = [[{"role": "user", "content": "first"}, {"role": "assistant", "content": "ANSWER-OF-A"}],
                 [{"role": "user", "content": "first"}, {"role": "assistant", "content": "ANSWER-OF-B"}]]
    stream = stream_side_by_side(tiny_session, columns, "second", gen, histories=histories, system_prompt="sys",
                                 settings=settings)
    assert "ANSWER-OF-A" in stream.prompts[0].text and "ANSWER-OF-B" not in stream.prompts[0].text
    assert "ANSWER-OF-B" in stream.prompts[1].text and "ANSWER-OF-A" not in stream.prompts[1].text
    final = list(stream)[-1]
    # one batch over two different prompts gives what each conversation alone gives
    for i, history in enumerate(histories):
        alone = stream_side_by_side(tiny_session, [columns[i]], history + [{"role": "user", "content": "second"}],
                                    gen, system_prompt="sys", settings=settings)
        assert list(alone)[-1][0] == final[i]
    assert "tokens/s" in views.stats_line(stream)
    with pytest.raises(ConfigError, match="empty"):
        stream_side_by_side(tiny_session, columns, "   ", gen, histories=[[], []], settings=settings)


def test_a_100k_character_request_is_cut_with_a_note_not_a_crash(tiny_session, settings):
    columns = [Column("A", None), Column("B", None)]
    huge = "Create an S3 bucket. " * 5000
    assert len(huge) >= 100_000
    stream = stream_side_by_side(tiny_session, columns, huge, GenSettings(max_new_tokens=2), histories=[[], []],
                                 settings=settings)
    # a first turn (no history yet): one prompt for all panes, and its notes are for the status line
    assert any("characters" in note for note in views.general_notes(stream.notes, ["A", "B"]))
    assert stream.prompts[0] is stream.prompts[1]
    assert len(stream.prompts[0].input_ids) <= tiny_session.context_length
    assert len(list(stream)[-1]) == 2


def test_stop_switches_are_per_visitor():
    stops = views.StopSwitches()
    a, b = stops.arm("a"), stops.arm("b")
    assert stops.stop("a") and a.is_set() and not b.is_set()
    again = stops.arm("b")
    assert b.is_set() and not again.is_set()  # a new generation of the same visitor ends the old one
    stops.release("b", b)  # releasing a stale switch keeps the current one
    assert len(stops) == 2
    stops.release("b", again)
    stops.release("a", a)
    assert len(stops) == 0 and not stops.stop("nobody")


# ---- adapters from runs ---------------------------------------------------------------------------------------
def _run(root, name, adapter=True, status="finished", step=3, created=None, losses=(), model="smollm2-135m-instruct"):
    run = root / name
    run.mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"status": status, "step": step, "total_steps": step,
                                                 **({"created": created} if created else {})}))
    if losses:
        (run / "metrics.jsonl").write_text("".join(json.dumps({"step": i + 1, "elapsed_s": i, "loss": loss}) + "\n"
                                                   for i, loss in enumerate(losses)))
    (run / "config.json").write_text(json.dumps({"model": model}))
    if adapter:
        (run / "adapter").mkdir()
        (run / "adapter" / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    return run


def test_adapter_choices_list_runs_with_an_adapter(settings, tmp_path):
    local = settings.with_overrides(runs_dir=tmp_path / "runs")
    assert views.adapter_choices(local) == [("none (base model only)", "none")]
    assert views.default_adapter_choice(local) == "none"
    _run(tmp_path / "runs", "tuned")
    _run(tmp_path / "runs", "still-queued", adapter=False, status="queued")
    values = [v for _, v in views.adapter_choices(local)]
    assert values == ["none", "tuned"] and views.default_adapter_choice(local) == "tuned"
    assert views.find_run("none", local) is None
    assert views.find_run("tuned", local).adapter_path == tmp_path / "runs" / "tuned" / "adapter"
    with pytest.raises(ConfigError, match="not allowed"):
        views.find_run("../etc", local)
    with pytest.raises(ConfigError, match="No run named"):
        views.find_run("missing", local)
    with pytest.raises(ModelError, match="no adapter"):
        views.find_run("still-queued", local)


def test_default_adapter_is_the_most_trained_finished_run_not_the_newest(settings, tmp_path):
    """After a 6-step stop/resume test the newest run is barely trained: it must not be the default."""
    local = settings.with_overrides(runs_dir=tmp_path / "runs")
    root = tmp_path / "runs"
    _run(root, "quick-demo", step=55, created=1000.0, losses=[2.5, 1.234])
    _run(root, "resume-test", step=6, created=2000.0, losses=[2.9])
    _run(root, "long-but-stopped", step=80, status="stopped", created=1500.0)
    _run(root, "old-short", step=55, created=500.0)
    choices = views.adapter_choices(local)
    assert [v for _, v in choices] == ["none", "quick-demo", "old-short", "resume-test", "long-but-stopped"]
    assert views.default_adapter_choice(local) == "quick-demo"
    labels = dict((v, label) for label, v in choices)
    assert labels["quick-demo"] == "quick-demo — 55 steps, loss 1.23 (finished)"
    assert labels["long-but-stopped"] == "long-but-stopped — 80 steps, no loss logged (stopped)"
    # a deleted run's pick falls back to the best run, not the newest
    assert views.refreshed_adapter_choices("gone", local)[1] == "quick-demo"


def test_a_pinned_run_is_the_default_until_unpinned_or_deleted(settings, tmp_path):
    import shutil

    local = settings.with_overrides(runs_dir=tmp_path / "runs")
    _run(tmp_path / "runs", "quick-demo", step=55)
    _run(tmp_path / "runs", "resume-test", step=6)
    assert views.pin_run("resume-test", local) == "resume-test"
    choices = views.adapter_choices(local)
    assert choices[1] == ("resume-test — 6 steps, no loss logged (finished, pinned)", "resume-test")
    assert views.default_adapter_choice(local) == "resume-test"
    assert views.ranked_adapter_runs(local)[0].name == "resume-test"
    with pytest.raises(ConfigError, match="No run named"):
        views.pin_run("missing", local)
    assert views.pinned_run(local) == "resume-test"  # a failed pin keeps the old one
    assert views.pin_run("none", local) is None and views.default_adapter_choice(local) == "quick-demo"
    views.pin_run("resume-test", local)
    shutil.rmtree(tmp_path / "runs" / "resume-test")
    assert views.pinned_run(local) is None and views.default_adapter_choice(local) == "quick-demo"
    (tmp_path / "runs" / views.PIN_FILE).write_text("not json")
    assert views.default_adapter_choice(local) == "quick-demo"


def test_refreshing_the_adapter_list_keeps_the_visitors_pick(settings, tmp_path):
    """A tab-select refresh must not answer with the old value: it would undo a pick made meanwhile."""
    import shutil

    local = settings.with_overrides(runs_dir=tmp_path / "runs")
    _run(tmp_path / "runs", "tuned")
    choices, value = views.refreshed_adapter_choices("none", local)
    assert [v for _, v in choices] == ["none", "tuned"] and value is None
    assert views.refreshed_adapter_choices("tuned", local)[1] is None
    # a value the visitor never picked (the page's build-time default) follows the best run
    assert views.refreshed_adapter_choices("none", local, picked=False)[1] == "tuned"
    assert views.refreshed_adapter_choices("tuned", local, picked=False)[1] is None  # already the best
    shutil.rmtree(tmp_path / "runs" / "tuned")  # the picked run was deleted: fall back to the default
    choices, value = views.refreshed_adapter_choices("tuned", local)
    assert value == "none" and [v for _, v in choices] == ["none"]


def test_runs_of_another_base_model_are_listed_last_and_never_the_default(settings, tmp_path):
    """A run trained on another model (a tiny test model, a hub model) cannot attach to the loaded one: as
    the default it made every first Send of the Compare tab an error. It stays pickable, saying why not."""
    local = settings.with_overrides(runs_dir=tmp_path / "runs")
    root = tmp_path / "runs"
    _run(root, "tiny-long", step=300, model=str(tmp_path / "tiny-model"))
    _run(root, "hub-name", step=20, model="HuggingFaceTB/SmolLM2-135M-Instruct")  # the same weights' hub id
    loaded = "smollm2-135m-instruct"
    choices = views.adapter_choices(local, loaded)
    assert [v for _, v in choices] == ["none", "hub-name", "tiny-long"]
    assert dict((v, label) for label, v in choices)["tiny-long"] == \
        "tiny-long — 300 steps, no loss logged (finished, trained on tiny-model)"
    assert views.default_adapter_choice(local, loaded) == "hub-name"
    # the Evaluate tab lists the same runs in the same order, by adapter folder
    assert evaluate_tab.adapter_choices(local, loaded) == [(label, str(root / v / "adapter"))
                                                           for label, v in choices[1:]]
    assert evaluate_tab.default_adapter(local, loaded) == str(root / "hub-name" / "adapter")
    shutil.rmtree(root / "hub-name")
    assert evaluate_tab.default_adapter(local, loaded) is None
    assert views.default_adapter_choice(local, loaded) == "none"
    assert views.refreshed_adapter_choices("tiny-long", local, picked=False, model_id=loaded)[1] == "none"
    assert views.refreshed_adapter_choices("tiny-long", local, picked=True, model_id=loaded)[1] is None  # kept
    said = compare_tab.pin_message("tiny-long", local, loaded)[1]  # what the Pin button shows
    assert views.pinned_run(local) == "tiny-long"
    assert "another base model" in said and "is now the default" not in said, said
    assert views.default_adapter_choice(local, loaded) == "none"  # pinned, but of another model
    assert views.default_adapter_choice(local, str(tmp_path / "tiny-model")) == "tiny-long"
    assert views.default_adapter_choice(local) == "tiny-long"  # no loaded model to check against


# ---- recordings -----------------------------------------------------------------------------------------------
def test_recordings_save_list_and_refuse_other_paths(settings, tmp_path):
    local = settings.with_overrides(cache_dir=tmp_path / "cache")
    with pytest.raises(DataError, match="Nothing to record"):
        views.save_recording(None, local)
    recorder = Recorder(["Base model", "Fine-tuned (x)"], prompt="Create a DynamoDB table!",
                        settings=views.recording_settings(GenSettings(), system_prompt="s", adapter_run="x", rag=False,
                                                          model_id="m", seed=1))
    list(recorder.wrap(iter([["a", ""], ["ab", "c"]])))
    path = views.save_recording(recorder.recording, local)
    assert path.parent == tmp_path / "cache" / "recordings" and "create-a-dynamodb-table" in path.name
    choices = views.recording_choices(local)
    assert choices[0] == (f"yours: {path.stem}", str(path))
    loaded = views.load_recording(str(path), local)
    assert loaded.final_texts() == ["ab", "c"]
    assert "adapter run `x`" in views.describe_recording(loaded)
    outside = tmp_path / "elsewhere.json"
    outside.write_text(recorder.recording.to_json())
    with pytest.raises(DataError, match="not one of the recordings"):
        views.resolve_recording(str(outside), local)
    with pytest.raises(DataError, match="Pick a recording"):
        views.resolve_recording("", local)


def test_the_shipped_demo_recording_replays(settings, schema):
    demos = [value for label, value in views.recording_choices(settings) if label.startswith("demo: ")]
    assert demos, f"no demo recording in {views.RECORDINGS_ASSET_DIR}"
    recording = views.load_recording(demos[0], settings)
    assert recording.columns[0] == "Base model" and recording.columns[1].startswith("Fine-tuned")
    assert recording.settings["model"] and len(recording.ticks) > 10
    final = recording.final_texts()
    assert all(text.strip() for text in final)
    # the demo is there to show the checker at work: the tuned pane must contain Terraform
    assert check_answer(final[1], schema).has_code


def test_button_labels_are_short():
    assert views.button_label("IaC-Eval (difficulty 1): Create a basic AWS IAM user example") == \
        "Create a basic AWS IAM user example"
    assert len(views.button_label("x" * 100)) == 42


# ---- doc completion -------------------------------------------------------------------------------------------
def test_doc_output_counts_callouts_in_the_continuation_only():
    html = views.doc_output_html("~> **Note:**", " This resource is deprecated.\n\n-> Use X instead.\nplain")
    assert 'data-callouts="2"' in html and html.count("iac-callout iac-callout-") == 2
    assert "iac-callout-important" in html and "iac-callout-note" in html
    assert 'data-callouts="0"' in views.doc_output_html("# Resource: x\n", "Some text")


def test_corpus_pages_and_lookup_by_short_path(settings):
    pages = views.corpus_pages(settings.corpus_dir)
    assert len(pages) > 2000
    full = "website/docs/r/dynamodb_contributor_insights.html.markdown"
    assert pages[full].subcategory == "DynamoDB"
    assert views.page_text("r/dynamodb_contributor_insights", pages) == pages[full].text
    with pytest.raises(DataError, match="No page"):
        views.page_text("r/no_such_page", pages)
    with pytest.raises(ConfigError):
        views.page_text("", pages)


@pytest.fixture(scope="module")
def dynamodb_run(tmp_path_factory, settings):
    """A run folder whose dataset is a real DynamoDB slice of the corpus (saved with `datasets`)."""
    import datasets

    pages = views.corpus_pages(settings.corpus_dir)
    rows = [{"text": p.text[:2000], "source": p.source, "path": p.path, "subcategory": p.subcategory, "n_tokens": 100}
            for p in pages.values() if p.subcategory == "DynamoDB"]
    root = tmp_path_factory.mktemp("dynamodb-run")
    datasets.Dataset.from_list(rows).save_to_disk(str(root / "dataset"))
    run = root / "runs" / "dyn"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"dataset": str(root / "dataset"), "subcategory": "",
                                                 "eval_fraction": 0.2}))
    (run / "status.json").write_text(json.dumps({"status": "finished"}))
    from iacdemo.training.runs import run_info

    return run_info(run), {r["path"] for r in rows}


def test_training_pages_put_held_out_pages_first(settings, dynamodb_run):
    run, dataset_paths = dynamodb_run
    split = views.training_pages(run)
    assert split.held_out and split.trained and split.held_out | split.trained == dataset_paths
    assert not split.held_out & split.trained and split.subcategories == {"DynamoDB"}
    pages = views.corpus_pages(settings.corpus_dir)
    choices = views.page_choices(pages, split)
    first = [p for _, p in choices[:len(split.held_out)]]
    assert set(first) == split.held_out and "held out of training" in choices[0][0]
    no_run = views.training_pages(None)
    assert no_run.note and views.default_pages(pages, no_run) == [views.DEMO_PAGE]


def test_the_split_is_the_one_training_makes_from_the_runs_config(dynamodb_run):
    """trained_and_held_out_pages recomputes build_training_data's split_by_page from config.json alone."""
    from iacdemo.training.data import load_rows, split_by_page

    run, _ = dynamodb_run
    config = json.loads((run.run_dir / "config.json").read_text())
    train_rows, eval_rows = split_by_page(load_rows(config["dataset"])[0], config["eval_fraction"])
    split = views.trained_and_held_out_pages(run.run_dir)
    assert split.trained == {r["path"] for r in train_rows} and split.held_out == {r["path"] for r in eval_rows}
    assert views.trained_and_held_out_pages(str(run.run_dir)) == split


def test_default_perplexity_pages_are_a_trained_page_and_a_held_out_page(settings, dynamodb_run, tmp_path):
    run, _ = dynamodb_run
    pages = views.corpus_pages(settings.corpus_dir)
    split = views.training_pages(run)
    trained, held_out = views.default_pages(pages, split)
    assert trained in split.trained and held_out in split.held_out
    if views.DEMO_PAGE in split.trained:
        assert trained == views.DEMO_PAGE  # the page the demo talks about, when the run trained on it
    # a run that held nothing out (an old quick demo): the second page is one it never saw (here the run has
    # every DynamoDB page, so a resource page of another service)
    all_in = tmp_path / "all-in"
    all_in.mkdir()
    config = json.loads((run.run_dir / "config.json").read_text())
    (all_in / "config.json").write_text(json.dumps({**config, "eval_fraction": 0}))
    split = views.trained_and_held_out_pages(all_in)
    assert not split.held_out
    trained, other = views.default_pages(pages, split)
    assert trained in split.trained and other not in split.trained and "/r/" in other  # never 'docs/README'



def test_page_picker_values_are_real_page_paths(settings):
    pages = views.corpus_pages(settings.corpus_dir)
    assert views.picked_pages(None) == [] and views.picked_pages(" r/x ") == ["r/x"]
    assert views.picked_pages(["a", "a", " ", "b"]) == ["a", "b"]
    assert views.resolve_page("r/dynamodb_contributor_insights", pages) == views.DEMO_PAGE
    with pytest.raises(DataError, match="No page 'docs/README — not in the training datas3_bucket_versioning'"):
        views.resolve_page("docs/README — not in the training datas3_bucket_versioning", pages)


def test_training_pages_of_a_run_whose_dataset_is_gone(tmp_path):
    run_dir = tmp_path / "gone"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"dataset": str(tmp_path / "nothing")}))
    from iacdemo.training.runs import run_info

    assert "cannot be read" in views.training_pages(run_info(run_dir)).note
    (run_dir / "config.json").write_text("[1, 2]")
    assert "no readable config.json" in views.trained_and_held_out_pages(run_dir).note


def test_perplexity_html_shows_each_page_role_and_the_change_against_base():
    split = views.TrainingPages(held_out=frozenset({"website/docs/r/a.html.markdown"}),
                                trained=frozenset({"website/docs/r/b.html.markdown"}))
    results = [views.PageScores("website/docs/r/b.html.markdown", {"base": 5.85, "iac": 3.56}, 1024),
               views.PageScores("website/docs/r/a.html.markdown", {"base": 7.61, "iac": 7.97}, 512)]
    html = views.perplexity_html(results, {"base": "Base model", "iac": "Fine-tuned (iac)"}, split)
    trained_row, held_row = html.split("<tr data-role=")[1:]
    assert "trained on" in trained_row and "-39.1%" in trained_row and "iac-ppl-better" in trained_row
    assert "held out of training" in held_row and "+4.7%" in held_row and "iac-ppl-worse" in held_row
    assert "<code>r/a</code>" in held_row and "1,024" in trained_row


def test_score_pages_scores_each_page_under_base_and_adapter(tiny_session, settings):
    pages = views.corpus_pages(settings.corpus_dir)
    seen = []
    results = views.score_pages(tiny_session, ["r/dynamodb_table", views.DEMO_PAGE], pages, None, max_tokens=32,
                                window=32, progress=lambda f, m: seen.append(m))
    assert [r.path for r in results] == ["website/docs/r/dynamodb_table.html.markdown", views.DEMO_PAGE]
    assert all(set(r.scores) == {"base"} and r.scores["base"] > 1 and r.tokens == 32 for r in results)
    assert len(seen) == 2 and "(2/2)" in seen[1]
    with pytest.raises(ConfigError, match="Pick a documentation page"):
        views.score_pages(tiny_session, [], pages, None, max_tokens=32, window=32)


# ---- fixtures -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_session(tiny_model_dir):
    from iacdemo.generation.session import ModelSession

    return ModelSession.load(str(tiny_model_dir))
