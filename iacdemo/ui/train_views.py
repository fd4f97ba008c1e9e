"""What the Train tab shows, computed without Gradio: the form layout, plot frames, status and tables.

The tab module only wires widgets to these functions, so the decisions (which settings the form
offers, what a Space allows, how a run's metrics become plot points) are unit-tested without a
browser. The form is generated from `field_specs()`: a hyperparameter is spelled once, in
`TrainConfig`, and appears here with its label, help, bounds and group automatically.
"""
from __future__ import annotations

import html
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from iacdemo.errors import ConfigError, JobError
from iacdemo.settings import Settings
from iacdemo.training.config import GROUPS, TrainConfig, field_specs
from iacdemo.training.runner import JobSnapshot, format_seconds
from iacdemo.training.runs import ROW_HEADERS, RunInfo, loss_curves

# `out` would let a visitor write anywhere on disk (runs always go to the runs dir), and `resume` is
# the Resume button: neither is a form field.
FORM_EXCLUDED = ("out", "resume")
# Shown above the accordions with their own pickers (registry ids, built corpora).
TOP_FIELDS = ("model", "dataset")
OPEN_GROUPS = ("Schedule",)  # the settings a demo changes most often start unfolded

SPACE_MAX_STEPS = 200

TRAIN_SERIES, EVAL_SERIES = "train loss", "eval loss"
SERIES_COLORS = {TRAIN_SERIES: "#4f46e5", EVAL_SERIES: "#059669"}
PLOT_COLUMNS = ["step", "loss", "series"]


# ---- the form ------------------------------------------------------------------------------------------
def form_specs() -> list[dict[str, Any]]:
    """The settings the form offers, in `TrainConfig` order."""
    return [s for s in field_specs() if s["name"] not in FORM_EXCLUDED]


def form_names() -> list[str]:
    """Field names in the order the tab passes the form's widgets to its handlers."""
    return [s["name"] for s in form_specs()]


def grouped_specs() -> list[tuple[str, list[dict], list[dict]]]:
    """(group, basic specs, advanced specs) for each accordion, top-row fields left out."""
    specs = [s for s in form_specs() if s["name"] not in TOP_FIELDS]
    groups = []
    for group in GROUPS:
        members = [s for s in specs if s["group"] == group]
        if members:
            groups.append((group, [s for s in members if not s["advanced"]], [s for s in members if s["advanced"]]))
    return groups


def field_info(spec: Mapping[str, Any]) -> str:
    """The help line under a widget, with its allowed range (the config checks it on Start)."""
    text = spec["help"]
    lo, hi = spec["min"], spec["max"]
    if spec["type"] in ("int", "float") and (lo is not None or hi is not None):
        text += f" Range {_num(lo) if lo is not None else '−∞'} to {_num(hi) if hi is not None else '∞'}."
    return text


def _num(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else f"{value:,}" if abs(value) >= 10_000 else str(value)


def number_step(spec: Mapping[str, Any]) -> float:
    """The spinner step of a number box: 1 for whole numbers, the default's order of magnitude otherwise."""
    if spec["type"] == "int":
        return 1
    default = spec["default"] or 0
    return 10 ** math.floor(math.log10(default)) if default > 0 else 0.01


def form_defaults(settings: Settings, datasets: Iterable[str | Path] = ()) -> dict[str, Any]:
    """The form's first values: the config's defaults, this app's model, the newest built corpus."""
    values = {s["name"]: s["default"] for s in form_specs()}
    values["model"] = settings.default_model
    values["dataset"] = next((str(d) for d in datasets), "")
    if settings.on_space:
        values["max_steps"] = min(SPACE_MAX_STEPS, 100)
    return values


def config_values(config: TrainConfig) -> dict[str, Any]:
    """A config as form values (the quick-demo preset, or a run's config to start from)."""
    data = config.to_dict()
    return {name: data[name] for name in form_names()}


def values_from_widgets(values: Iterable[Any]) -> dict[str, Any]:
    """Pair the widgets' values (in `form_names()` order) with their field names."""
    values = list(values)
    names = form_names()
    if len(values) != len(names):
        raise ValueError(f"expected {len(names)} form values, got {len(values)}")
    return dict(zip(names, values))


# ---- Space rules ---------------------------------------------------------------------------------------------
def duplicate_hint(settings: Settings) -> str:
    link = f"https://huggingface.co/spaces/{settings.space_id}?duplicate=true" if settings.space_id else ""
    target = f"[Duplicate this Space]({link})" if link else "Duplicate this Space"
    return f"{target} onto your own GPU hardware to train without these limits."


def training_blocked(settings: Settings, device: str) -> str | None:
    """Why training is off here (a CPU Space: every visitor would share 2 slow cores), or None."""
    if settings.on_space and device == "cpu":
        return ("**Training is turned off on this CPU Space**: one LoRA step of even the smallest model takes "
                "tens of seconds here, and every visitor shares the machine. " + duplicate_hint(settings) +
                " Locally, `python app.py` trains on your own CPU or GPU.")
    return None


def space_note(settings: Settings, device: str) -> str | None:
    """The note above the form on a Space: why training is off, or what the limits are."""
    blocked = training_blocked(settings, device)
    if blocked or not settings.on_space:
        return blocked
    return (f"**Shared Space**: one job at a time for all visitors, at most {SPACE_MAX_STEPS} steps, and only "
            "the browser tab that started a job can stop it. " + duplicate_hint(settings))


def check_space_limits(config: TrainConfig, settings: Settings, device: str) -> TrainConfig:
    """Refuse what a shared Space cannot afford; return the config unchanged otherwise."""
    blocked = training_blocked(settings, device)
    if blocked:
        raise JobError(blocked.replace("**", ""))
    if settings.on_space:
        if config.max_steps <= 0 or config.max_steps > SPACE_MAX_STEPS:
            raise ConfigError(f"Max steps (max_steps): on this shared Space a job is limited to "
                              f"{SPACE_MAX_STEPS} steps (got {config.max_steps or 'epochs'}). "
                              + duplicate_hint(settings))
        if config.num_processes > 1:
            raise ConfigError("Processes (num_processes): a shared Space trains on one GPU.")
    return config


# ---- live panel --------------------------------------------------------------------------------------------
def loss_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Train and eval loss as long-format points; the first logged step is a point like any other."""
    curves = loss_curves(rows)
    points = [(s, v, TRAIN_SERIES) for s, v in curves["train"]] + [(s, v, EVAL_SERIES) for s, v in curves["eval"]]
    return _frame(points)


def overlay_frame(runs_rows: Mapping[str, list[dict[str, Any]]]) -> pd.DataFrame:
    """Several runs' loss curves on one plot, one series per run (and per run's eval loss)."""
    points = []
    for name, rows in runs_rows.items():
        curves = loss_curves(rows)
        points += [(s, v, name) for s, v in curves["train"]]
        points += [(s, v, f"{name} (eval)") for s, v in curves["eval"]]
    return _frame(points)


@dataclass(frozen=True)
class PlotAxes:
    """The chart properties that only take effect when the chart is redrawn: its legend (which also fixes
    the colour of each series) and its x range.

    Gradio 6 builds a chart's colour scale from the data present when it draws the chart; a new value
    alone only swaps the data, and a value sent together with new properties races the redraw (the
    chart is redrawn from the old, empty data: blank, with `Infinite extent for field "step"` in the
    console). So the points go first and these properties follow in a separate update.
    """

    legend: tuple[str, ...] | None
    x_lim: tuple[int, int]

    def as_props(self) -> dict[str, Any]:
        return {"colors_in_legend": list(self.legend) if self.legend else None, "x_lim": list(self.x_lim)}


# A chart gets about one x tick per 40 px (vega-lite's default); over a range this wide every tick
# is a whole step even on the full-width overlay plot, where a 3-step range gave ticks at 0.2, 0.4, ...
MIN_X_SPAN = 40


def x_range(last_step: int, total_steps: int = 0) -> tuple[int, int]:
    """The x axis from step 0 to the run's end (so progress reads off the plot), never under MIN_X_SPAN."""
    return 0, max(MIN_X_SPAN, int(total_steps or 0), int(last_step or 0))


def plot_axes(frame: pd.DataFrame, total_steps: int = 0) -> PlotAxes:
    series = series_in(frame)
    last = int(frame["step"].max()) if len(frame) else 0
    return PlotAxes(tuple(series) if series else None, x_range(last, total_steps))


def coinciding_runs(runs_rows: Mapping[str, list[dict[str, Any]]]) -> list[tuple[str, str]]:
    """Pairs of runs whose train-loss curves lie on each other (same seed, data and settings give the
    same losses): the later line hides the earlier one, whatever their colours."""
    curves = {name: dict(loss_curves(rows)["train"]) for name, rows in runs_rows.items()}
    names = [n for n in curves if curves[n]]
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            common = curves[a].keys() & curves[b].keys()
            if common and all(math.isclose(curves[a][s], curves[b][s], rel_tol=1e-4, abs_tol=1e-6)
                              for s in common):
                pairs.append((a, b))
    return pairs


def overlay_note(runs_rows: Mapping[str, list[dict[str, Any]]]) -> str:
    """What the overlay cannot show by colour alone: runs without points, and curves on top of each other."""
    notes = [f"`{name}` has no logged steps yet." for name, rows in runs_rows.items()
             if not loss_curves(rows)["train"] and not loss_curves(rows)["eval"]]
    notes += [f"`{b}` lies exactly on `{a}` (same seed, data and settings): only the line drawn last shows."
              for a, b in coinciding_runs(runs_rows)]
    return " ".join(notes)


def series_in(frame: pd.DataFrame) -> list[str] | None:
    """The plot's series in order of appearance (None when empty: gradio then hides the legend)."""
    names = list(dict.fromkeys(frame["series"]))
    return names or None


def _frame(points: list[tuple[int, float, str]]) -> pd.DataFrame:
    # explicit dtypes: an empty frame must still give the plot a numeric x axis and a string series
    return pd.DataFrame({"step": pd.Series([p[0] for p in points], dtype="int64"),
                         "loss": pd.Series([p[1] for p in points], dtype="float64"),
                         "series": pd.Series([p[2] for p in points], dtype=str)})


def progress_html(snap: JobSnapshot | None) -> str:
    """A progress bar that also works with no JS (and reads well in a screenshot)."""
    if snap is None:
        percent, label, state = 0.0, "no job", "idle"
    else:
        percent = round(100 * snap.progress, 1)
        total = snap.total_steps or "?"
        label = f"step {snap.step}/{total} · {percent:.0f}%"
        state = snap.status
    return (f'<div class="train-progress" data-status="{html.escape(state)}" role="progressbar" '
            f'aria-valuemin="0" aria-valuemax="100" aria-valuenow="{percent}">'
            f'<div class="train-progress-fill" style="width:{percent}%"></div>'
            f'<span class="train-progress-label">{html.escape(label)}</span></div>')


RATE_WINDOW = 10  # logged steps in a live run's moving tokens/s


def throughput(rows: list[dict[str, Any]], running: bool) -> tuple[str, float | None]:
    """(label, tokens/s) of a run.

    A run that has ended gets its average: all tokens over all training time (the last step alone can
    be several times faster or slower than the run). A live one gets the rate over its last
    RATE_WINDOW logged steps, labelled as such. Rows without the cumulative `tokens` count (runs of
    older versions) fall back to the last step's own rate, and say so.
    """
    train = [r for r in rows if r.get("loss") is not None]
    if not train:
        return "tokens/s", None
    last = train[-1]
    if last.get("tokens") and last.get("elapsed_s"):
        if not running:
            return "tokens/s avg", last["tokens"] / last["elapsed_s"]
        first = train[-RATE_WINDOW - 1] if len(train) > RATE_WINDOW else None
        if first is not None and first.get("tokens") is not None and last["elapsed_s"] > first["elapsed_s"]:
            rate = (last["tokens"] - first["tokens"]) / (last["elapsed_s"] - first["elapsed_s"])
        else:
            rate = last["tokens"] / last["elapsed_s"]
        return f"tokens/s last {min(len(train), RATE_WINDOW)} steps", rate
    return "tokens/s last step", last.get("tokens_per_s")


IDLE_TEXT = ("No job yet: pick a dataset and press Start. The Quick demo button only fills the form with the "
             "CPU recipe; Start then trains it.")


def stats_html(snap: JobSnapshot | None) -> str:
    """Run, status, step, loss, tokens/s, ETA and elapsed time: the numbers a presenter reads out."""
    if snap is None:
        return f'<div class="train-stats" data-status="idle"><span class="train-stat">{IDLE_TEXT}</span></div>'
    rate_label, rate = throughput(snap.metrics, snap.running)
    cells = [("run", snap.run_name), ("status", snap.status),
             ("step", f"{snap.step}/{snap.total_steps or '?'}"),
             ("loss", f"{snap.loss:.3f}" if snap.loss is not None else "–"),
             ("eval loss", f"{snap.eval_loss:.3f}" if snap.eval_loss is not None else "–"),
             ("tokens/s", f"{rate:,.0f}" if rate else "–", rate_label),
             ("ETA", format_seconds(snap.eta_s) if snap.running and snap.eta_s is not None else "–"),
             ("elapsed", format_seconds(snap.elapsed_s) if snap.elapsed_s is not None else "–")]
    if snap.gpu_peak_gib is not None:
        cells.append(("GPU peak", f"{snap.gpu_peak_gib:.1f} GiB"))
    parts = [f'<span class="train-stat" data-stat="{html.escape(key)}"><b>{html.escape(label[0] if label else key)}'
             f'</b> {html.escape(str(value))}</span>' for key, value, *label in cells]
    if snap.error:
        parts.append(f'<div class="train-stat-error">{html.escape(snap.error)}</div>')
    return (f'<div class="train-stats" data-status="{html.escape(snap.status)}" '
            f'data-run="{html.escape(snap.run_name)}">' + "".join(parts) + "</div>")


def log_html(text: str) -> str:
    """The log tail in a box that stays scrolled to its newest line (a column-reverse flex box keeps
    the bottom in view without any script, also right after a page reload)."""
    body = html.escape(text) if text else "(no output yet)"
    return f'<div class="train-log"><pre>{body}</pre></div>'


# ---- runs ---------------------------------------------------------------------------------------------------
def runs_frame(infos: Iterable[RunInfo]) -> pd.DataFrame:
    return pd.DataFrame([info.as_row() for info in infos], columns=ROW_HEADERS)


def run_choices(infos: Iterable[RunInfo]) -> list[tuple[str, str]]:
    """Dropdown choices: "name · status · final loss", value = run name."""
    choices = []
    for info in infos:
        loss = f" · loss {info.final_loss:.3f}" if info.final_loss is not None else ""
        choices.append((f"{info.name} · {info.status}{loss}", info.name))
    return choices


# ---- one live stream per browser tab -------------------------------------------------------------------------
@dataclass
class StreamRegistry:
    """Which live stream of a browser session is the current one.

    Start, Resume, Watch and a page load each begin a stream; the older stream of the same session
    notices at its next poll that it was superseded and ends, so a session never has two pollers.
    """

    def __post_init__(self):
        self._latest: dict[str, int] = {}
        self._lock = threading.Lock()
        self._counter = 0

    def begin(self, session: str) -> int:
        with self._lock:
            self._counter += 1
            self._latest[session] = self._counter
            return self._counter

    def is_current(self, session: str, token: int) -> bool:
        with self._lock:
            return self._latest.get(session) == token

    def end(self, session: str, token: int) -> None:
        with self._lock:
            if self._latest.get(session) == token:
                del self._latest[session]
