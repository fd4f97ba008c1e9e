"""Train tab: the generated form, the Space rules, the live-panel views and the handlers on real jobs.

Jobs train a tiny random Qwen2 model (with the real SmolLM2 tokenizer) on the real DynamoDB slice, so a
job is mostly process start-up; the real embedded model is trained in the browser test.
"""
from __future__ import annotations

import dataclasses
import json
import time

import pytest

from iacdemo.errors import ConfigError, DataError, JobError
from iacdemo.training import runs
from iacdemo.training.config import TrainConfig, field_specs
from iacdemo.ui import train_views as views
from iacdemo.ui.state import AppContext
from iacdemo.ui import train_controller as tc
from iacdemo.ui.tabs import train_tab
from tests.ui_support import isolated_settings

WAIT = 300  # generous: the machine is shared


@pytest.fixture(scope="module")
def ctx(settings, tmp_path_factory) -> AppContext:
    return AppContext(isolated_settings(settings, tmp_path_factory.mktemp("ui-train")))


@pytest.fixture(scope="module")
def dataset(ctx):
    """The quick demo's DynamoDB corpus, built by the tab's own shortcut."""
    return tc.ensure_demo_dataset(ctx)


@pytest.fixture(scope="module")
def form(ctx, dataset, tiny_model_dir) -> dict:
    """Form values as the widgets send them: numbers as floats, a tiny model and short blocks."""
    values = views.form_defaults(ctx.settings, [dataset])
    values.update(model=str(tiny_model_dir), seq_len=64.0, batch_size=2.0, max_steps=4.0, eval_fraction=0.1,
                  eval_every=2.0, chat_mix_ratio=0.0, cpu_threads=1.0, device="cpu")
    return values


def space_ctx(ctx: AppContext) -> AppContext:
    return AppContext(ctx.settings.with_overrides(space_id="someone/iacdemo"))


def wait_until(predicate, timeout=WAIT, interval=0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail("condition not met in time")


# ---- the generated form --------------------------------------------------------------------------------
def test_form_offers_every_setting_once_except_out_and_resume():
    names = views.form_names()
    config_names = [f.name for f in dataclasses.fields(TrainConfig)]
    assert sorted(names + list(views.FORM_EXCLUDED)) == sorted(config_names)
    assert len(names) == len(set(names))
    in_groups = [s["name"] for _, basic, advanced in views.grouped_specs() for s in basic + advanced]
    assert sorted(in_groups + list(views.TOP_FIELDS)) == sorted(names)
    for group, basic, advanced in views.grouped_specs():
        assert all(s["group"] == group and not s["advanced"] for s in basic)
        assert all(s["group"] == group and s["advanced"] for s in advanced)


def test_field_info_states_the_range_and_steps_fit_the_type():
    specs = {s["name"]: s for s in field_specs()}
    assert "Range 1e-08 to 1" in views.field_info(specs["lr"])
    assert "Range 16 to 32,768" in views.field_info(specs["seq_len"])
    assert "Range" not in views.field_info(specs["packing"])
    assert views.number_step(specs["seq_len"]) == 1
    assert views.number_step(specs["lr"]) == pytest.approx(1e-4)


def test_defaults_round_trip_into_the_default_config(ctx, dataset):
    values = views.form_defaults(ctx.settings, [dataset])
    assert values["dataset"] == str(dataset) and values["model"] == ctx.settings.default_model
    config = TrainConfig.from_form(values)
    assert config == TrainConfig(dataset=str(dataset), model=ctx.settings.default_model)
    assert views.values_from_widgets([values[n] for n in views.form_names()]) == values
    with pytest.raises(ValueError):
        views.values_from_widgets([1, 2, 3])


def test_quick_demo_preset_fills_a_valid_form(ctx, dataset):
    before = [info.name for info in runs.list_runs(ctx.settings)]
    values = tc.TrainController(ctx).preset()
    assert set(values) == set(views.form_names())
    assert values["dataset"] == str(dataset) and values["subcategory"] == "DynamoDB"
    config = tc.config_from_form(ctx, values)
    assert (config.seq_len, config.max_steps, config.model) == (256, 55, "smollm2-135m-instruct")
    assert "--max-steps 55" in tc.command_text(ctx, values)
    assert [info.name for info in runs.list_runs(ctx.settings)] == before  # filling the form starts nothing


def test_quick_demo_holds_out_dynamodb_pages_and_keeps_the_readme_page_trained(ctx, dataset):
    from iacdemo.training.data import load_rows, split_by_page

    config = tc.config_from_form(ctx, tc.quick_demo_values(ctx))
    assert config.eval_fraction > 0 and 0 < config.eval_every < config.max_steps
    rows, _ = load_rows(config.dataset, config.subcategory)
    train_rows, eval_rows = split_by_page(rows, config.eval_fraction)
    held = {r["path"] for r in eval_rows}
    trained = {r["path"] for r in train_rows}
    assert 1 <= len(held) <= len(trained) // 3, held  # a fair test page, most pages still trained
    assert all("dynamodb" in path for path in held)
    assert "website/docs/r/dynamodb_contributor_insights.html.markdown" in trained  # the README's example


def test_preset_button_and_idle_text_say_the_preset_only_fills_the_form():
    assert "fill" in train_tab.PRESET_LABEL.lower()
    idle = views.stats_html(None)
    assert "only fills the form" in idle and "press Start" in idle
    assert "(or the Quick demo preset)" not in idle


def test_command_follows_the_form_and_explains_bad_values(ctx, form):
    command = tc.command_text(ctx, form)
    assert "-m train.cpt" in command and "--max-steps 4" in command and "--seq-len 64" in command
    assert f"--out {ctx.settings.runs_dir}/" in command
    assert "--max-steps 9" in tc.command_text(ctx, {**form, "max_steps": 9.0})
    bad = tc.command_text(ctx, {**form, "lr": "fast"})
    assert bad.startswith("# ") and "Learning rate" in bad


# ---- validation ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("change, error, words", [
    ({"lr": "abc"}, ConfigError, "not a number"),
    ({"lr": 5.0}, ConfigError, "above the maximum"),
    ({"max_steps": -3.0}, ConfigError, "below the minimum"),
    ({"batch_size": 2.5}, ConfigError, "whole number"),
    ({"seq_len": None}, ConfigError, "a value is required"),
    ({"dataset": ""}, ConfigError, "pick a corpus dataset"),
    ({"dataset": "no-such-corpus"}, DataError, "does not exist"),
    ({"dataset": "../../../etc"}, DataError, "outside the app's folders"),
    ({"dataset": "/etc"}, DataError, "outside the app's folders"),
    ({"run_name": "../escape"}, ConfigError, "not allowed"),
    ({"run_name": "a/b"}, ConfigError, "not allowed"),
    ({"scheduler": "warp"}, ConfigError, "not one of"),
])
def test_bad_form_values_give_clear_errors(ctx, form, change, error, words):
    with pytest.raises(error, match=words):
        tc.config_from_form(ctx, {**form, **change})
    assert not any(ctx.settings.runs_dir.glob("escape*"))


def test_dataset_by_folder_name_resolves_inside_the_datasets_dir(ctx, form, dataset):
    config = tc.config_from_form(ctx, {**form, "dataset": dataset.name})
    assert config.dataset == str(dataset.resolve())


# ---- Space rules --------------------------------------------------------------------------------------------
def test_cpu_space_turns_training_off_with_a_duplicate_hint(ctx, form):
    space = space_ctx(ctx)
    note = views.space_note(space.settings, "cpu")
    assert "turned off" in note and "Duplicate this Space" in note and "someone/iacdemo" in note
    for call in (lambda: tc.start_job(space, form), lambda: tc.resume_job(space, "anything")):
        with pytest.raises(JobError, match="turned off"):
            call()
    with pytest.raises(JobError, match="off on this shared Space"):
        tc.delete_job(space, "anything", True)
    assert views.training_blocked(ctx.settings, "cpu") is None  # local CPU machines train
    assert views.space_note(ctx.settings, "cpu") is None


def test_gpu_space_allows_one_short_job(ctx, form, dataset):
    config = TrainConfig.from_form({**form, "max_steps": 150.0})
    space = space_ctx(ctx).settings
    assert views.check_space_limits(config, space, "cuda") is config
    assert f"{views.SPACE_MAX_STEPS} steps" in views.space_note(space, "cuda")
    for steps in (0, views.SPACE_MAX_STEPS + 1):
        with pytest.raises(ConfigError, match="limited to"):
            views.check_space_limits(dataclasses.replace(config, max_steps=steps), space, "cuda")
    with pytest.raises(ConfigError, match="one GPU"):
        views.check_space_limits(dataclasses.replace(config, num_processes=2), space, "cuda")
    assert views.form_defaults(space, [dataset])["max_steps"] <= views.SPACE_MAX_STEPS


# ---- live panel views -----------------------------------------------------------------------------------------
def test_loss_frame_keeps_the_first_step_and_eval_points():
    rows = [{"step": 0, "elapsed_s": 0.1, "eval_loss": 4.5},
            {"step": 1, "elapsed_s": 1.0, "loss": 4.2, "tokens_per_s": 30},
            {"step": 2, "elapsed_s": 2.0, "loss": 3.9, "eval_loss": 4.1}]
    frame = views.loss_frame(rows)
    assert frame.to_dict("records") == [
        {"step": 1, "loss": 4.2, "series": views.TRAIN_SERIES}, {"step": 2, "loss": 3.9, "series": views.TRAIN_SERIES},
        {"step": 0, "loss": 4.5, "series": views.EVAL_SERIES}, {"step": 2, "loss": 4.1, "series": views.EVAL_SERIES}]
    assert len(views.loss_frame(rows[:2])) == 2  # one train point already plots
    empty = views.loss_frame([])
    assert list(empty.columns) == views.PLOT_COLUMNS and str(empty["step"].dtype) == "int64"
    assert views.series_in(frame) == [views.TRAIN_SERIES, views.EVAL_SERIES]
    assert views.series_in(empty) is None  # gradio hides the legend for None, not for []
    overlay = views.overlay_frame({"a": rows, "b": rows[1:2]})
    assert views.series_in(overlay) == ["a", "a (eval)", "b"]


def test_tokens_per_s_is_the_runs_average_once_it_ended_and_a_labelled_moving_rate_while_live():
    # 12 steps of 1000 tokens: 10 s each, then one fast last step (the case of a finished run's "226")
    rows = [{"step": 0, "eval_loss": 4.0, "elapsed_s": 5.0}]
    for step in range(1, 13):
        rows.append({"step": step, "loss": 3.0, "tokens": 1000 * step, "tokens_per_s": 100.0,
                     "elapsed_s": 5.0 + 10.0 * step})
    rows[-1].update(tokens_per_s=1000.0, elapsed_s=rows[-2]["elapsed_s"] + 1.0)
    label, rate = views.throughput(rows, running=False)
    assert label == "tokens/s avg" and rate == pytest.approx(12000 / rows[-1]["elapsed_s"])
    label, rate = views.throughput(rows, running=True)
    assert label == f"tokens/s last {views.RATE_WINDOW} steps"
    assert rate == pytest.approx((12000 - 2000) / (rows[-1]["elapsed_s"] - rows[2]["elapsed_s"]))
    assert views.throughput(rows[:3], running=True)[1] == pytest.approx(2000 / 25.0)
    old_style = [{k: v for k, v in r.items() if k != "tokens"} for r in rows]  # runs of older versions
    assert views.throughput(old_style, running=False) == ("tokens/s last step", 1000.0)
    assert views.throughput(rows[:1], running=False) == ("tokens/s", None)


def test_plot_axes_give_whole_step_ticks_and_the_runs_length():
    assert views.x_range(0) == (0, views.MIN_X_SPAN)
    assert views.x_range(3, 55) == (0, 55) and views.x_range(120, 0) == (0, 120)
    frame = views.loss_frame([{"step": 1, "loss": 2.0, "elapsed_s": 1.0}])
    axes = views.plot_axes(frame, total_steps=55)
    assert axes.legend == (views.TRAIN_SERIES,) and axes.as_props() == {
        "colors_in_legend": [views.TRAIN_SERIES], "x_lim": [0, 55]}
    assert views.plot_axes(views.loss_frame([])).as_props()["colors_in_legend"] is None


def test_overlay_note_names_runs_whose_curves_coincide():
    rows = [{"step": s, "loss": 3.0 - 0.1 * s, "elapsed_s": s} for s in (1, 2, 3)]
    other = [{**r, "loss": r["loss"] + 0.5} for r in rows]
    assert views.coinciding_runs({"a": rows, "b": [dict(r) for r in rows[:2]], "c": other}) == [("a", "b")]
    note = views.overlay_note({"a": rows, "b": rows, "empty": []})
    assert "`b` lies exactly on `a`" in note and "`empty` has no logged steps" in note
    assert views.overlay_note({"a": rows, "c": other}) == ""


def test_log_box_escapes_the_log():
    assert "&lt;script&gt;" in views.log_html("<script>alert(1)</script>")
    assert "no output yet" in views.log_html("")


def test_stream_registry_keeps_one_stream_per_session():
    registry = views.StreamRegistry()
    first = registry.begin("s1")
    other = registry.begin("s2")
    second = registry.begin("s1")
    assert not registry.is_current("s1", first) and registry.is_current("s1", second)
    assert registry.is_current("s2", other)
    registry.end("s1", first)  # a superseded stream ending does not unregister the new one
    assert registry.is_current("s1", second)


# ---- real jobs through the handlers -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def finished_run(ctx, form):
    name = tc.start_job(ctx, {**form, "run_name": "tab-short"})
    snaps = list(tc.iter_snapshots(tc.get_runner(ctx), name, poll_s=0.2))
    tc.get_runner(ctx).wait(name, timeout=WAIT)
    return name, snaps


def test_start_streams_to_a_finished_run_with_points_from_step_one(ctx, finished_run):
    name, snaps = finished_run
    final = snaps[-1]
    assert final.status == "finished", final.log_tail
    assert final.step == final.total_steps == 4 and final.progress == 1.0
    assert [s.running for s in snaps[:-1]] == [True] * (len(snaps) - 1)
    frame = views.loss_frame(final.metrics)
    train = frame[frame.series == views.TRAIN_SERIES]
    assert list(train.step) == [1, 2, 3, 4]
    assert (frame.series == views.EVAL_SERIES).any()
    assert "finished" in views.stats_html(final) and 'aria-valuenow="100.0"' in views.progress_html(final)
    assert final.gpu_peak_gib is None and "GPU peak" not in views.stats_html(final)  # a CPU run has none
    table = views.runs_frame(runs.list_runs(ctx.settings))
    row = table[table.run == name].iloc[0]
    assert row.status == "finished" and row.steps == "4/4" and row["final loss"] and row.adapter.endswith("adapter")
    assert (name and f"{name} · finished" in [label.split(" · loss")[0]
                                              for label, _ in views.run_choices(runs.list_runs(ctx.settings))])


def test_a_finished_run_shows_its_average_tokens_per_s(ctx, finished_run):
    final = finished_run[1][-1]
    train = [r for r in final.metrics if r.get("loss") is not None]
    average = train[-1]["tokens"] / train[-1]["elapsed_s"]
    stats = views.stats_html(final)
    assert f'<b>tokens/s avg</b> {average:,.0f}<' in stats
    assert round(average) != round(train[-1]["tokens_per_s"])  # the last step's own rate is not the run's


def test_the_run_records_which_pages_it_held_out(ctx, finished_run, dataset):
    from iacdemo.training import page_split
    from iacdemo.training.data import load_rows, split_by_page

    run_dir = ctx.settings.runs_dir / finished_run[0]
    recorded = page_split.page_split(run_dir)
    rows, _ = load_rows(dataset)
    train_rows, eval_rows = split_by_page(rows, 0.1)  # the form's eval fraction
    assert recorded == {"trained": sorted({r["path"] for r in train_rows}),
                        "held_out": sorted({r["path"] for r in eval_rows})}
    assert page_split.held_out_pages(run_dir) == recorded["held_out"] != []
    assert page_split.trained_pages(run_dir) == recorded["trained"]
    assert not set(recorded["held_out"]) & set(recorded["trained"])

    # a run folder from before pages.json existed: the same split, re-derived from its config.json
    older = ctx.settings.runs_dir / "tab-no-pages-file"
    older.mkdir()
    (older / runs.CONFIG_FILE).write_text((run_dir / runs.CONFIG_FILE).read_text())
    assert page_split.page_split(older) == recorded
    (older / page_split.PAGES_FILE).write_text("{not json")  # a corrupt record falls back the same way
    assert page_split.held_out_pages(older) == recorded["held_out"]
    (older / runs.CONFIG_FILE).write_text("{}")
    assert page_split.page_split(older) == {"trained": [], "held_out": []}
    __import__("shutil").rmtree(older)


@pytest.fixture(scope="module")
def streamed_run(ctx, form):
    """A job watched through the controller from Start to its end, as the live panel watches it (the same
    settings and seed as `finished_run`: the same losses)."""
    control = tc.TrainController(ctx, poll_s=0.2)
    name, owned = control.start({**form, "run_name": "tab-streamed"}, [])
    views_seen = list(control.stream(name, session="s1"))
    control.runner.wait(name, timeout=WAIT)
    return name, owned, views_seen


def _stat(stats_html: str, key: str) -> str:
    import re

    return re.search(rf'data-stat="{re.escape(key)}"><b>[^<]*</b> ([^<]*)<', stats_html).group(1)


def test_stream_keeps_the_runs_table_row_as_current_as_the_live_panel(streamed_run):
    name, owned, seen = streamed_run
    assert owned == [name]
    assert seen[0].runs is not None and seen[0].runs.choices is not None  # the first view lists every run
    table = None
    for view in seen:
        if view.runs is not None:
            table = view.runs.table
        row = table[table.run == name].iloc[0]
        live_step = int(_stat(view.stats, "step").split("/")[0])
        assert int(row.steps.split("/")[0]) >= live_step, (row.steps, view.stats)  # never "queued 0/4"
        if 'data-status="running"' in view.stats and live_step:
            assert row.status in ("running", "finished")
    assert 'data-status="finished"' in seen[-1].stats
    final_runs = [v.runs for v in seen if v.runs is not None][-1]
    assert final_runs.choices is not None and f"{name} · finished" in final_runs.choices[0][0]
    assert table[table.run == name].iloc[0].steps == "4/4"
    # the table is re-read only when the row moves (a step or the status), not at every poll
    assert sum(v.runs is not None for v in seen) <= 4 + 3


def test_stream_sends_the_plot_legend_after_its_points_never_with_them(streamed_run):
    _, _, seen = streamed_run
    assert all(v.points is None or v.axes is None for v in seen)
    assert seen[0].points is not None and seen[1].axes is not None  # a new stream always redraws
    for before, view in zip(seen, seen[1:]):
        if view.axes is not None:
            assert before.points is not None  # the points the redraw uses went first
    final_axes = [v.axes for v in seen if v.axes is not None][-1]
    assert final_axes.legend == (views.TRAIN_SERIES, views.EVAL_SERIES) and final_axes.x_lim == (0, views.MIN_X_SPAN)
    assert "tokens/s avg" in seen[-1].stats


def test_stream_of_nothing_and_of_a_deleted_run(ctx):
    control = tc.TrainController(ctx, poll_s=0.05)
    idle = list(control.stream(None, session="s2"))
    assert [v.points is not None for v in idle] == [True, False] and idle[1].axes.legend is None
    assert "only fills the form" in idle[0].stats
    gone = list(control.stream("never-existed", session="s2"))
    assert 'data-status="missing"' in gone[0].stats and "No run named" in gone[0].stats
    assert gone[0].runs is not None and gone[1].axes is not None


def test_overlay_of_one_run_has_a_legend_and_x_range_to_redraw_with(ctx, finished_run, streamed_run):
    control = tc.TrainController(ctx)
    one = control.overlay([finished_run[0]])
    assert one.axes.legend == (finished_run[0], f"{finished_run[0]} (eval)") and one.axes.x_lim == (0, views.MIN_X_SPAN)
    assert len(one.frame) and one.note == ""
    two = control.overlay([finished_run[0], streamed_run[0]])  # same settings and seed: the same curve
    assert f"`{streamed_run[0]}` lies exactly on `{finished_run[0]}`" in two.note
    assert control.overlay([]).axes.legend is None


def test_a_cuda_runs_peak_memory_is_shown(ctx):
    """train.cpt adds `gpu_peak_gib` to each metrics row on CUDA (no GPU here: the row is written as it would be)."""
    run_dir = ctx.settings.runs_dir / "tab-gpu-metrics"
    run_dir.mkdir(parents=True)
    try:
        runs.write_status(run_dir, status="finished", step=2, total_steps=2, device="cuda:0", dtype="bfloat16")
        for step in (1, 2):
            runs.append_metrics(run_dir, {"step": step, "loss": 2.0 / step, "tokens_per_s": 19000.0,
                                          "elapsed_s": 0.2 * step, "gpu_peak_gib": 23.79})
        snap = tc.get_runner(ctx).poll("tab-gpu-metrics")
        assert snap.gpu_peak_gib == 23.79
        assert '<b>GPU peak</b> 23.8 GiB' in views.stats_html(snap)
    finally:
        runs.delete_run("tab-gpu-metrics", ctx.settings)


def test_second_job_stop_and_delete(ctx, form, finished_run):
    long_form = {**form, "max_steps": 100000.0, "eval_fraction": 0.0, "run_name": "tab-long"}
    name = tc.start_job(ctx, long_form)
    runner = tc.get_runner(ctx)
    try:
        wait_until(lambda: runner.poll(name).step >= 1)
        with pytest.raises(JobError, match="already running"):
            tc.start_job(ctx, {**form, "run_name": "tab-second"})
        with pytest.raises(JobError, match="stop it"):
            tc.delete_job(ctx, name, True)
        with pytest.raises(JobError, match="another visitor"):  # a Space checks who started the job
            tc.stop_job(space_ctx(ctx), owned=["someone-else"])
        assert tc.stop_job(ctx) == name
        stopped = list(tc.iter_snapshots(runner, name, poll_s=0.2))[-1]
    finally:
        if runner.active_run():
            runner.stop(force=True)
    assert stopped.status == "stopped" and stopped.adapter_path
    assert runs.latest_checkpoint(ctx.settings.runs_dir / name) is not None  # what Resume goes on from
    with pytest.raises(JobError, match="No training job"):
        tc.stop_job(ctx)

    # Resume is the runner's (tested with real jobs in test_training_jobs); the tab adds these refusals
    with pytest.raises(JobError, match="already finished"):
        tc.resume_job(ctx, finished_run[0])
    with pytest.raises(ConfigError, match="Pick the run"):
        tc.resume_job(ctx, "")
    with pytest.raises(ConfigError, match="not allowed"):
        tc.resume_job(ctx, "../tab-long")

    with pytest.raises(ConfigError, match="Tick"):
        tc.delete_job(ctx, name, False)
    with pytest.raises(ConfigError, match="not allowed"):
        tc.delete_job(ctx, "../tab-long", True)
    tc.delete_job(ctx, name, True)
    assert not (ctx.settings.runs_dir / name).exists()
    assert name not in [i.name for i in runs.list_runs(ctx.settings)]


def test_overlay_and_export_of_a_finished_run(ctx, finished_run, tiny_model_dir):
    name, _ = finished_run
    overlay = views.overlay_frame(tc.overlay_rows(ctx, [name]))
    assert set(overlay.series) == {name, f"{name} (eval)"}
    with pytest.raises(ConfigError, match="not allowed"):
        tc.overlay_rows(ctx, ["../../etc"])

    with pytest.raises(ConfigError, match="plain folder name"):
        tc.export_job(ctx, name, "../outside")
    with pytest.raises(JobError, match="No run"):
        tc.export_job(ctx, "never-ran", "")
    out = tc.export_job(ctx, name, "")
    assert out == ctx.settings.exports_dir / name
    assert (out / "config.json").is_file() and any(out.glob("*.safetensors"))
    assert json.loads((out / "iacdemo_export.json").read_text())["base_model"] == str(tiny_model_dir)


# ---- the tab itself --------------------------------------------------------------------------------------------
def _build(ctx: AppContext):
    import gradio as gr

    with gr.Blocks() as demo:
        train_tab.build(ctx)
    return {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)}


def test_tab_builds_one_widget_per_setting(ctx, dataset):
    widgets = _build(ctx)
    for name in views.form_names():
        assert f"train-{name.replace('_', '-')}" in widgets, name
    assert "train-out" not in widgets and "train-resume" in widgets  # the button, not a field
    assert widgets["train-start"].interactive is not False
    assert str(dataset) in [value for _, value in widgets["train-dataset"].choices]
    assert "train-space-note" not in widgets


def test_tab_on_a_cpu_space_turns_start_off(ctx):
    widgets = _build(space_ctx(ctx))
    assert widgets["train-start"].interactive is False and widgets["train-resume"].interactive is False
    assert widgets["train-delete"].interactive is False and widgets["train-export"].interactive is False
    assert "Duplicate this Space" in widgets["train-space-note"].value


def test_guarded_handlers_show_errors_in_the_box_for_one_output_or_many(ctx):
    def stop_nothing():
        tc.stop_job(ctx)  # no job runs: JobError

    one = train_tab._guarded(stop_nothing, 1)()
    assert isinstance(one, dict) and one["visible"] is True and "No training job is running" in one["value"]
    many = train_tab._guarded(lambda: [1, 2], 3)()
    assert many[0]["visible"] is False and many[1:] == [1, 2]
    failed = train_tab._guarded(stop_nothing, 3)()
    assert failed[0]["visible"] is True and len(failed) == 3
