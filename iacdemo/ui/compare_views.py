"""What the Compare and Doc-completion tabs show, as plain functions: no Gradio in here.

The tabs only move widget values in and out; everything that decides what a visitor sees (which runs
offer an adapter, per-pane conversations, the grounded-check badges, recordings on disk, which docs
pages a run never trained on) lives here so it can be tested without a browser.
"""
from __future__ import annotations

import html
import json
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePath
from typing import Any, Sequence

from iacdemo.corpus.sources import iter_docs
from iacdemo.errors import ConfigError, DataError, ModelError
from iacdemo.generation.callouts import count_callouts, highlight_callouts
from iacdemo.generation.gen_settings import GenSettings
from iacdemo.generation.perplexity import perplexity_compare
from iacdemo.generation.prompts import content_text, normalise_messages
from iacdemo.generation.recording import Recording
from iacdemo.generation.side_by_side import SideBySideStream
from iacdemo.hcl.check import CheckResult, check_answer
from iacdemo.hcl.highlight import highlight_hcl
from iacdemo.models.registry import same_model
from iacdemo.settings import ASSETS_DIR, Settings
from iacdemo.training.data import load_rows, split_by_page
from iacdemo.training.runs import list_runs, validate_run_name
from iacdemo.ui.stop_switches import StopSwitches  # noqa: F401  (re-exported for the tabs)

MAX_PANES = 3  # base, fine-tuned, base + retrieved docs
NO_ADAPTER = "none"
RECORDINGS_ASSET_DIR = ASSETS_DIR / "recordings"
RECORDING_SUFFIX = ".json"
PENDING_CHECK_HTML = '<div class="iac-check iac-check-pending">Checks run when the answer is complete…</div>'


# ---- adapters: one per training run ----------------------------------------------------------------------
PIN_FILE = "pinned-adapter.json"  # in the runs dir, next to the run folders (never inside one)


def pinned_run(settings: Settings) -> str | None:
    """The run a presenter pinned as the default adapter, if it is still there."""
    try:
        name = json.loads((settings.runs_dir / PIN_FILE).read_text(encoding="utf-8")).get("run")
    except (OSError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) and (settings.runs_dir / name).is_dir() else None


def pin_run(choice: str | None, settings: Settings) -> str | None:
    """Pin a run's adapter as every visitor's default (the "none" choice removes the pin).

    A rehearsed demo must open on the adapter the presenter chose, not on whatever run was trained
    last; the pin survives app restarts because it is a file in the runs dir.
    """
    path = settings.runs_dir / PIN_FILE
    run = find_run(choice, settings)
    if run is None:
        path.unlink(missing_ok=True)
        return None
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"run": run.name}), encoding="utf-8")
    return run.name


def ranked_adapter_runs(settings: Settings, model_id: str | None = None) -> list[Any]:
    """Runs that have an adapter, the best default first: pinned, then finished runs by steps trained.

    The newest run is often a short stop/resume test whose adapter has barely moved from the base model;
    a demo should open on the run that trained longest. Unfinished runs (stopped, failed, still going)
    follow, newest first; among equally long finished runs the newer one wins. Given the loaded model,
    runs trained on another base model come last: their adapters cannot be attached to it.
    """
    runs = [r for r in list_runs(settings) if r.adapter_path is not None]  # newest first
    pinned = pinned_run(settings)
    finished = sorted((r for r in runs if r.status == "finished" and r.name != pinned),
                      key=lambda r: r.step, reverse=True)  # stable: newest first among equals
    rest = [r for r in runs if r.status != "finished" and r.name != pinned]
    ranked = [r for r in runs if r.name == pinned] + finished + rest
    return sorted(ranked, key=lambda r: not fits(r, model_id))  # stable: the order above within each group


def fits(run: Any, model_id: str | None) -> bool:
    """Whether the run's adapter was trained on `model_id` (None: no model to check against)."""
    return model_id is None or not run.model or same_model(run.model, model_id)


def adapter_label(run: Any, pinned: bool = False, model_id: str | None = None) -> str:
    """'quick-demo — 55 steps, loss 1.23 (finished)': how much a run trained, at a glance; a run of
    another base model says which, since picking it can only give an error."""
    steps = f"{run.step} step{'s' if run.step != 1 else ''}"
    loss = f", loss {run.final_loss:.2f}" if run.final_loss is not None else ", no loss logged"
    other = "" if fits(run, model_id) else f", trained on {PurePath(run.model).name}"
    return f"{run.name} — {steps}{loss} ({run.status}{', pinned' if pinned else ''}{other})"


def labelled_adapter_runs(settings: Settings, model_id: str | None = None) -> list[tuple[str, Any]]:
    """(label, run) of every run that has an adapter, best default first: what every adapter picker lists."""
    pinned = pinned_run(settings)
    return [(adapter_label(r, r.name == pinned, model_id), r) for r in ranked_adapter_runs(settings, model_id)]


def adapter_choices(settings: Settings, model_id: str | None = None) -> list[tuple[str, str]]:
    """(label, run name) of every run that has an adapter, best default first, after "none"."""
    return _by_name(labelled_adapter_runs(settings, model_id))


def _by_name(labelled: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    return [("none (base model only)", NO_ADAPTER)] + [(label, run.name) for label, run in labelled]


def default_adapter_run(settings: Settings, model_id: str | None = None) -> Any | None:
    """The pinned run, else the most trained finished run, so the demo compares something; only a run
    trained on the loaded model, else None (an adapter that cannot attach compares nothing)."""
    return _best(ranked_adapter_runs(settings, model_id), model_id)


def _best(ranked: list[Any], model_id: str | None) -> Any | None:
    return ranked[0] if ranked and fits(ranked[0], model_id) else None  # the ones that fit come first


def default_adapter_choice(settings: Settings, model_id: str | None = None) -> str:
    """`default_adapter_run`'s name, or "none"."""
    best = default_adapter_run(settings, model_id)
    return best.name if best is not None else NO_ADAPTER


def refreshed_adapter_choices(current: str | None, settings: Settings, picked: bool = True,
                              model_id: str | None = None) -> tuple[list[tuple[str, str]], str | None]:
    """The current runs' choices, and a new value only when the shown one should change (None: keep it).

    A visitor's own pick stays while its run exists: a refresh fires on tab select, and returning the old
    value would undo a pick made while the refresh was in flight. A value the visitor never picked is the
    page's build-time default, stale once runs finish or a run is pinned, so it follows the best default.
    """
    labelled = labelled_adapter_runs(settings, model_id)  # read once: the list and the default agree
    choices = _by_name(labelled)
    if picked and current in [value for _, value in choices]:
        return choices, None
    best = _best([run for _, run in labelled], model_id)
    best_name = best.name if best is not None else NO_ADAPTER
    return choices, (None if best_name == current else best_name)


def find_run(choice: str | None, settings: Settings):
    """The RunInfo for an adapter choice; None for "none". ConfigError/ModelError say what is wrong."""
    choice = (choice or "").strip()
    if not choice or choice == NO_ADAPTER:
        return None
    name = validate_run_name(choice)  # a picked name never becomes a path outside the runs dir
    for run in list_runs(settings):
        if run.name == name:
            if run.adapter_path is None:
                raise ModelError(f"Run '{name}' has no adapter yet (status: {run.status}). Pick another run.")
            return run
    raise ConfigError(f"No run named '{name}' in {settings.runs_dir}. Refresh the list of adapters.")


def attach_run_adapter(session: Any, choice: str | None, settings: Settings) -> str | None:
    """Attach the chosen run's adapter to the shared model; returns the adapter's name (None: base only)."""
    run = find_run(choice, settings)
    if run is None:
        return None
    return session.attach_adapter(run.adapter_path)  # named after the run (peft-safe)


# ---- conversations: one history per pane, per visitor ----------------------------------------------------
@dataclass
class Conversation:
    """What one visitor's Compare tab remembers between turns (kept in a `gr.State`, never global).

    Each pane has its own history: the base model's follow-up question must see the base model's
    earlier answer, not the tuned one's.
    """

    labels: list[str] = field(default_factory=list)
    histories: list[list[dict[str, str]]] = field(default_factory=list)
    recording: Recording | None = None  # the last comparison, for "Record this comparison"

    def for_columns(self, labels: Sequence[str]) -> "Conversation":
        """This conversation if it was held with the same panes, else a fresh one (adapter switched)."""
        if list(labels) == self.labels:
            return self
        return Conversation(labels=list(labels), histories=[[] for _ in labels], recording=self.recording)

    @property
    def turns(self) -> int:
        return sum(1 for m in (self.histories[0] if self.histories else []) if m["role"] == "user")


def pane_messages(history: Sequence[Any], user: str | None = None, answer: str | None = None) -> list[dict]:
    """A Chatbot value (gradio 6 messages) for one pane: its history plus the turn in progress."""
    messages = [dict(m) for m in normalise_messages(history) if m["role"] != "system"]
    if user is not None:
        messages.append({"role": "user", "content": content_text(user)})
    if answer is not None:
        messages.append({"role": "assistant", "content": answer})
    return messages


def stats_line(stream: SideBySideStream) -> str:
    """'48 tokens in 3.1 s (15.5 tokens/s, one batched generation)' for the status line."""
    stats = stream.stats
    how = "one batched generation" if stats.mode == "batched" else "one generation per pane"
    line = (f"{sum(stats.new_tokens)} tokens in {stats.elapsed_s:.1f} s "
            f"({stats.tokens_per_s:.1f} tokens/s, {how}, seed {stream.seed})")
    return line + (" — stopped." if stats.stopped else ".")


def column_notes(notes: Sequence[str], label: str) -> list[str]:
    """The notes meant for one pane (`"<label>: ..."`), without the label."""
    prefix = f"{label}: "
    return [n[len(prefix):] for n in notes if n.startswith(prefix)]


def general_notes(notes: Sequence[str], labels: Sequence[str]) -> list[str]:
    return [n for n in notes if not any(n.startswith(f"{label}: ") for label in labels)]


# ---- grounded checks ------------------------------------------------------------------------------------
_LEVELS = {"ok": "✓", "info": "•", "warn": "!", "error": "✗"}


def badges_html(result: CheckResult) -> str:
    spans = []
    for label, level in result.badges():
        level = level if level in _LEVELS else "info"
        spans.append(f'<span class="iac-badge iac-badge-{level}" data-level="{level}">'
                     f"{_LEVELS[level]} {html.escape(label)}</span>")
    return '<div class="iac-badges" data-testid="check-badges">' + "".join(spans) + "</div>"


def _where(item: dict) -> str:
    path = item.get("block_path") or []
    address = item.get("address") or ""
    inside = ".".join([address, *path]) if isinstance(path, (list, tuple)) else f"{address}.{path}"
    return html.escape(inside.strip("."))


def findings(result: CheckResult) -> list[str]:
    """One plain-English HTML line per problem, with the schema's "did you mean" when it has one."""
    lines = []
    if result.has_code and not result.parses and result.parse_error:
        lines.append(f"Parse error: {html.escape(result.parse_error[:300])}")
    for item in result.unknown_resource_types:
        hint = f" — did you mean <code>{html.escape(item['suggestion'])}</code>?" if item.get("suggestion") else ""
        kind = "data source" if item.get("kind") == "data" else "resource"
        lines.append(f"Unknown {kind} type <code>{html.escape(str(item.get('type')))}</code>{hint}")
    for item in result.unknown_arguments:
        hint = f" — did you mean <code>{html.escape(item['suggestion'])}</code>?" if item.get("suggestion") else ""
        lines.append(f"Unsupported argument <code>{html.escape(str(item.get('argument')))}</code> "
                     f"in <code>{_where(item)}</code>{hint}")
    for item in result.missing_required:
        lines.append(f"Missing required argument <code>{html.escape(str(item.get('argument')))}</code> "
                     f"in <code>{_where(item)}</code>")
    for item in result.broken_references:
        lines.append(f"Reference to undeclared <code>{html.escape(str(item.get('reference')))}</code>"
                     + (f" in <code>{html.escape(str(item.get('used_in')))}</code>" if item.get("used_in") else ""))
    for text in result.malformed_blocks:
        lines.append(f"Malformed block: {html.escape(str(text))}")
    return lines


def check_html(result: CheckResult, notes: Sequence[str] = (), terraform: Sequence[str] = ()) -> str:
    """Badges, findings and the extracted HCL (highlighted, parse-error line marked) under one answer;
    `terraform`: Terraform's own diagnostics (real mode), shown next to the static checks."""
    parts = [f'<div class="iac-check" data-plannable="{str(result.plannable).lower()}">', badges_html(result)]
    if terraform:
        parts.append('<div class="iac-badges" data-testid="terraform-badges">' + "".join(
            f'<span class="iac-badge iac-badge-error" data-level="error">✗ {html.escape(line)}</span>'
            for line in terraform) + "</div>")
    lines = findings(result)
    if lines:
        parts.append('<ul class="iac-findings">' + "".join(f"<li>{line}</li>" for line in lines[:8]) + "</ul>")
    if result.has_code:
        parts.append('<div class="iac-code-title">Extracted HCL</div>')
        parts.append(highlight_hcl(result.code, error_line=result.parse_error_line))
    parts.append(pane_notes_html(notes))
    parts.append("</div>")
    return "".join(parts)


def pane_notes_html(notes: Sequence[str]) -> str:
    if not notes:
        return ""
    items = "".join(f"<li>{_linkless(n)}</li>" for n in notes)
    return f'<ul class="iac-pane-notes" data-testid="pane-notes">{items}</ul>'


def _linkless(text: str) -> str:
    """Escape a note and set doc paths in code style (retrieved sources read better that way)."""
    escaped = html.escape(text)
    return re.sub(r"(website/docs/[\w./-]+|[\w-]+/[\w./-]+\.(?:md|markdown|mdx))", r"<code>\1</code>", escaped)


def check_answers(texts: Sequence[str], schema: Any) -> list[CheckResult]:
    return [check_answer(text, schema) for text in texts]


# ---- recordings --------------------------------------------------------------------------------------------
def recordings_dir(settings: Settings) -> Path:
    """Where "Record this comparison" saves (the shipped demo recordings stay read-only in assets/)."""
    return settings.cache_dir / "recordings"


def recording_choices(settings: Settings) -> list[tuple[str, str]]:
    """(label, path) of the shipped demo recordings and the user's own, newest of the user's first."""
    own = sorted(recordings_dir(settings).glob(f"*{RECORDING_SUFFIX}"), key=_mtime, reverse=True) \
        if recordings_dir(settings).is_dir() else []
    shipped = sorted(RECORDINGS_ASSET_DIR.glob(f"*{RECORDING_SUFFIX}")) if RECORDINGS_ASSET_DIR.is_dir() else []
    return ([(f"yours: {p.stem}", str(p)) for p in own]
            + [(f"demo: {p.stem}", str(p)) for p in shipped])


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def resolve_recording(choice: str | None, settings: Settings) -> Path:
    """Only files from the two recording folders can be replayed: a choice is never an arbitrary path."""
    if not choice or not str(choice).strip():
        raise DataError("Pick a recording to replay.")
    allowed = {value: Path(value) for _, value in recording_choices(settings)}
    if str(choice) not in allowed:
        raise DataError(f"{choice} is not one of the recordings in {RECORDINGS_ASSET_DIR} or "
                        f"{recordings_dir(settings)}. Refresh the list.")
    return allowed[str(choice)]


def load_recording(choice: str | None, settings: Settings) -> Recording:
    recording = Recording.load(resolve_recording(choice, settings))
    if not 1 <= len(recording.columns) <= MAX_PANES:
        raise DataError(f"The recording has {len(recording.columns)} panes; the Compare tab shows 1 to {MAX_PANES}.")
    if not recording.ticks:
        raise DataError("The recording is empty: it holds no generated text.")
    return recording


def recording_name(recording: Recording) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", recording.prompt.lower()).strip("-")[:40].rstrip("-") or "comparison"
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{words}"


def save_recording(recording: Recording | None, settings: Settings) -> Path:
    if recording is None or not recording.ticks:
        raise DataError("Nothing to record yet: send a prompt first, then record the comparison.")
    directory = recordings_dir(settings)
    path = directory / f"{recording_name(recording)}{RECORDING_SUFFIX}"
    suffix = 2
    while path.exists():
        path = directory / f"{recording_name(recording)}-{suffix}{RECORDING_SUFFIX}"
        suffix += 1
    return recording.save(path)


def recording_settings(gen: GenSettings, *, system_prompt: str, adapter_run: str | None, rag: bool,
                       model_id: str, seed: int) -> dict:
    """What a replay shows about how the recording was made."""
    return {"model": model_id, "adapter_run": adapter_run or "", "rag": rag, "system_prompt": system_prompt,
            "temperature": gen.temperature, "top_p": gen.top_p, "max_new_tokens": gen.max_new_tokens,
            "repetition_penalty": gen.repetition_penalty, "seed": seed,
            "recorded": time.strftime("%Y-%m-%d %H:%M:%S")}


def describe_recording(recording: Recording) -> str:
    s = recording.settings
    bits = [f"model `{s['model']}`" if s.get("model") else "",
            f"adapter run `{s['adapter_run']}`" if s.get("adapter_run") else "",
            f"max {s['max_new_tokens']} new tokens" if s.get("max_new_tokens") else "",
            f"seed {s['seed']}" if s.get("seed") is not None else "",
            f"recorded {s['recorded']}" if s.get("recorded") else ""]
    duration = recording.ticks[-1][0] if recording.ticks else 0.0
    prompt = " ".join(recording.prompt.split())
    prompt = prompt if len(prompt) <= 140 else prompt[:139] + "…"
    return (f"Replaying a recording: **“{_escape_md(prompt)}”** ({duration:.1f} s live; "
            + ", ".join(b for b in bits if b) + ").")


def _escape_md(text: str) -> str:
    for char in "\\`*_[]<>#|":
        text = text.replace(char, "\\" + char)
    return text


# ---- doc completion ---------------------------------------------------------------------------------------
def doc_output_html(prompt: str, continuation: str) -> str:
    """The prompt and its continuation as one page, callout lines highlighted, with a callout count."""
    # lines the model wrote or finished: the prompt's last (unfinished) line counts with the continuation
    n = count_callouts((prompt or "").rsplit("\n", 1)[-1] + (continuation or "")) if continuation else 0
    counter = (f'<div class="iac-callouts-found" data-callouts="{n}">{n} callout line{"s" if n != 1 else ""} '
               "written by the model</div>")
    prompt_len = len(prompt or "")
    page = (prompt or "") + (continuation or "")
    body = highlight_callouts(page)
    return f'<div class="iac-doc-pane" data-prompt-chars="{prompt_len}">{counter}{body}</div>'


@dataclass(frozen=True)
class CorpusPage:
    source: str
    path: str
    text: str
    subcategory: str


@lru_cache(maxsize=2)
def corpus_pages(corpus_dir: Path) -> dict[str, CorpusPage]:
    """Every HCL docs page of the corpus by path (about 8 MB of text, read once, in well under a second)."""
    files = sorted(Path(corpus_dir).glob("*.jsonl.gz"))
    if not files:
        raise DataError(f"No documentation corpus in {corpus_dir}.")
    pages: dict[str, CorpusPage] = {}
    for doc in iter_docs(files):
        pages.setdefault(doc.path, CorpusPage(doc.source, doc.path, doc.text, doc.subcategory or ""))
    return pages


@dataclass(frozen=True)
class TrainingPages:
    """Which docs pages a run trained on, and which of its dataset's pages it held out for eval."""

    trained: frozenset[str] = frozenset()
    held_out: frozenset[str] = frozenset()  # in the run's dataset but in the eval split: never trained on
    subcategories: frozenset[str] = frozenset()
    note: str = ""

    @property
    def known(self) -> bool:
        return bool(self.trained or self.held_out)


def training_pages(run: Any) -> TrainingPages:
    """The train/eval page split of a run (a RunInfo; None: no adapter picked)."""
    if run is None:
        return TrainingPages(note="No adapter picked: every page is new to the base model alike.")
    return trained_and_held_out_pages(run.run_dir)


def trained_and_held_out_pages(run_dir: str | Path) -> TrainingPages:
    """Re-derive which docs pages a run trained on and which it held out, from its config.json.

    Training splits its dataset with `split_by_page(rows, eval_fraction)`, a stable hash of each page's
    path, after the same subcategory filter: the same call on the same dataset gives the same split, so
    no list of pages needs to be stored with the run. A note says why when the split cannot be known.
    """
    run_dir = Path(run_dir)
    name = run_dir.name
    try:
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        if not isinstance(config, dict) or not all(isinstance(config.get(k) or "", str)
                                                   for k in ("dataset", "subcategory")):
            raise ValueError("not a config object")
    except (OSError, ValueError, RecursionError):
        return TrainingPages(note=f"Run '{name}' has no readable config.json: its training pages are unknown.")

    if not isinstance(config, dict) or not str(config.get("dataset") or "").strip():
        return TrainingPages(note=f"Run '{name}' records no dataset: its training pages are unknown.")
    try:
        rows, _ = load_rows(config.get("dataset", ""), config.get("subcategory", "") or "")
        fraction = float(config.get("eval_fraction", 0) or 0)
    except DataError as exc:
        return TrainingPages(note=f"The dataset of run '{name}' cannot be read ({exc}); its training pages "
                                  "are unknown.")
    except (TypeError, ValueError):
        return TrainingPages(note=f"Run '{name}' has an unreadable eval_fraction: its training pages are unknown.")
    train_rows, eval_rows = split_by_page(rows, fraction)
    return TrainingPages(trained=frozenset(r["path"] for r in train_rows),
                         held_out=frozenset(r["path"] for r in eval_rows),
                         subcategories=frozenset(r.get("subcategory") or "" for r in rows) - {""})


def short_path(path: str) -> str:
    return re.sub(r"\.html\.markdown$|\.markdown$|\.md$", "", path.replace("website/docs/", ""))


def page_choices(pages: dict[str, CorpusPage], split: TrainingPages) -> list[tuple[str, str]]:
    """(label, path) for the perplexity picker: held-out pages first, then trained ones, then the rest.

    A page held out of training is the fair test (lower perplexity there means the model learned the
    docs' language, not the page); a trained page shows memorisation for contrast.
    """
    def rank(path: str) -> tuple[int, str]:
        if path in split.held_out:
            return 0, path
        if path in split.trained:
            return 1, path
        if pages[path].subcategory in split.subcategories:
            return 2, path
        return 3, path

    if not split.known:  # no run, or its dataset is gone: no claim either way
        return [(short_path(p), p) for p in sorted(pages)]
    labels = {0: "held out of training (eval split)", 1: "trained on",
              2: "not in the training data (same service)", 3: "not in the training data"}
    return [(f"{short_path(p)} — {labels[rank(p)[0]]}", p) for p in sorted(pages, key=rank)]


DEMO_PAGE = "website/docs/r/dynamodb_contributor_insights.html.markdown"  # the page the quick demo is about
MAX_SCORED_PAGES = 4


def default_pages(pages: dict[str, CorpusPage], split: TrainingPages) -> list[str]:
    """A page the run trained on and a page it held out: memorisation next to what generalises.

    Lower perplexity on the trained page only shows the adapter learned that page; the held-out page
    (same service, never trained on) shows whether it learned the docs' language, or forgot some of it.
    Without a held-out page the second is a page of the same service outside the training data; with no
    run (or an unknown split) it is the quick demo's page alone.
    """
    def pick(candidates: set[str] | frozenset[str]) -> str | None:
        present = [p for p in candidates if p in pages]
        if DEMO_PAGE in present:
            return DEMO_PAGE
        # resource pages read most like what the demo asks for; then guides and data sources
        return min(present, key=lambda p: ("/r/" not in p, p)) if present else None

    if not split.known:
        return [DEMO_PAGE] if DEMO_PAGE in pages else sorted(pages)[:1]
    untrained = {p for p, page in pages.items() if p not in split.trained and page.subcategory in split.subcategories}
    chosen = [pick(split.trained), pick(split.held_out) or pick(untrained) or pick(set(pages) - split.trained)]
    return [p for p in chosen if p]


def default_page(pages: dict[str, CorpusPage], split: TrainingPages) -> str | None:
    """The first of `default_pages`: a trained page when the split is known."""
    return next(iter(default_pages(pages, split)), None)


def picked_pages(value: Any) -> list[str]:
    """The page picker's value as a list (a multiselect sends a list; one page may come as a string)."""
    if value is None:
        return []
    values = [value] if isinstance(value, str) else list(value)
    return list(dict.fromkeys(str(v).strip() for v in values if str(v).strip()))


def resolve_page(path: str, pages: dict[str, CorpusPage]) -> str:
    """A picked page's full path (a short path like r/dynamodb_table is accepted too)."""
    path = (path or "").strip()
    if path in pages:
        return path
    short = {short_path(p): p for p in pages}
    if path in short:
        return short[path]
    raise DataError(f"No page '{path}' in the corpus (try e.g. r/dynamodb_table).")


def page_text(path: str | None, pages: dict[str, CorpusPage]) -> str:
    if not (path or "").strip():
        raise ConfigError("Pick a documentation page to score.")
    return pages[resolve_page(path, pages)].text


@dataclass(frozen=True)
class PageScores:
    """Perplexity of one page under each model ("base" and adapter names), over its first `tokens` tokens."""

    path: str
    scores: dict[str, float]
    tokens: int


def score_pages(session: Any, paths: Sequence[str], pages: dict[str, CorpusPage], adapter: str | None, *,
                max_tokens: int, window: int, progress: Any = None) -> list[PageScores]:
    """Each page's perplexity under the base model and (if given) the adapter, in the order picked."""
    if not paths:
        raise ConfigError("Pick a documentation page to score.")
    results = []
    for i, path in enumerate(paths):
        if progress is not None:
            progress(i / len(paths), f"Scoring {short_path(path)} ({i + 1}/{len(paths)})")
        text = pages[resolve_page(path, pages)].text
        scores = perplexity_compare(session, text, [None] + ([adapter] if adapter else []), max_tokens=max_tokens,
                                    window=window)
        tokens = min(len(session.tokenizer(text)["input_ids"]), max_tokens)
        results.append(PageScores(resolve_page(path, pages), scores, tokens))
    return results


def page_role(path: str, split: TrainingPages) -> str:
    if not split.known:
        return ""
    return ("held out of training" if path in split.held_out else "trained on" if path in split.trained
            else "not in the training data")


def perplexity_html(results: Sequence[PageScores], labels: dict[str, str], split: TrainingPages) -> str:
    """One row per page: its role in training, each model's perplexity, and the change against base."""
    keys = list(dict.fromkeys(k for r in results for k in r.scores))
    head = "".join(f"<th>{html.escape(labels.get(k, k))}</th>" for k in keys)
    change_head = "<th>vs base</th>" if len(keys) > 1 else ""
    rows = []
    for result in results:
        base = result.scores.get("base")
        cells = "".join(f"<td>{result.scores[k]:.2f}</td>" if k in result.scores else "<td></td>" for k in keys)
        changes = []
        for key in keys[1:]:
            value = result.scores.get(key)
            if base and value is not None:
                pct = 100 * (value - base) / base
                changes.append(f'<span class="iac-ppl-{"better" if pct < 0 else "worse"}">{pct:+.1f}%</span>')
        role = page_role(result.path, split)
        rows.append(f'<tr data-role="{html.escape(role)}"><td><code>{html.escape(short_path(result.path))}</code></td>'
                    f"<td>{html.escape(role)}</td><td>{result.tokens:,}</td>{cells}"
                    + (f"<td>{' '.join(changes)}</td>" if change_head else "") + "</tr>")
    return ('<div class="iac-ppl" data-testid="perplexity">'
            "<p>Perplexity: how surprised each model is by the page (lower is better). A trained page shows "
            "what the run memorised; a held-out page shows whether it learned the docs' language.</p>"
            f"<table><thead><tr><th>page</th><th>in training</th><th>tokens</th>{head}{change_head}</tr></thead>"
            "<tbody>" + "".join(rows) + "</tbody></table></div>")


# ---- stop buttons -------------------------------------------------------------------------------------------
def button_label(title: str, limit: int = 42) -> str:
    """A preset's title short enough for a one-click button on a projector."""
    text = re.sub(r"^IaC-Eval \(difficulty \d+\):\s*", "", title).replace("Original experiment: ", "")
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
