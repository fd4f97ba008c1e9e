"""The Train tab's behaviour without Gradio: every button and the live panel as plain methods.

`train_tab.build` lays out widgets and wires each event to one method of `TrainController` (as
LLaMA-Factory's web UI wires its form to `Runner`); the methods take and return plain values (form
dicts, run names, HTML strings, data frames and the small view records below), so the decisions — what
a Space allows, when the runs table is re-read, which plot update goes first — are unit-tested without
a browser, and the tab only turns the records into component updates.

The job never runs in the UI process: `JobRunner` starts `python -m train.cpt` in its own process
group and everything shown is read back from the run folder. That is also why a reloaded page
re-attaches (on load it asks the runner for the active run and streams it again) and why runs are
listed after an app restart.
"""
from __future__ import annotations

import html
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import pandas as pd

from iacdemo.corpus.catalog import list_corpora
from iacdemo.errors import ConfigError, IacdemoError, JobError
from iacdemo.models import MODELS
from iacdemo.safe_paths import check_name, resolve_inside
from iacdemo.settings import Settings
from iacdemo.training import runs
from iacdemo.training.config import TrainConfig, quick_demo
from iacdemo.training.data import ensure_quick_demo_dataset
from iacdemo.training.export import export_merged
from iacdemo.training.runner import JobRunner, JobSnapshot, auto_run_name
from iacdemo.ui import train_views as views
from iacdemo.ui.state import AppContext

RUNNER_SERVICE = "job_runner"
POLL_S = 1.0  # the live panel updates at least every 2 s
LOG_LINES = 30

Progress = Callable[[float, str], None]


# ---- shared services and choices ----------------------------------------------------------------------
def get_runner(ctx: AppContext) -> JobRunner:
    """The app's one JobRunner (other tabs may list or stop jobs through the same one)."""
    return ctx.service(RUNNER_SERVICE, lambda: JobRunner(ctx.settings))


def training_device(ctx: AppContext) -> str:
    """The device a job would pick ("cpu" when the device setting is unusable: training then is too)."""
    try:
        return ctx.device()[0]
    except IacdemoError:
        return "cpu"


def model_choices(settings: Settings) -> list[str]:
    ids = list(MODELS)
    return ids if settings.default_model in ids else [settings.default_model, *ids]


def dataset_choices(settings: Settings) -> list[tuple[str, str]]:
    """Corpora built so far (Data tab or quick-demo shortcut), read now; the value is the folder path."""
    return [(info.label, str(info.path)) for info in list_corpora(settings.datasets_dir)]


def dataset_roots(settings: Settings) -> list[Path]:
    """Where a typed dataset path may point; relative names are looked up in the datasets dir first."""
    return [settings.datasets_dir, settings.cache_dir, settings.data_dir, settings.runs_dir]


def resolve_dataset(value: Any, settings: Settings) -> str:
    """The picked or typed dataset as an absolute folder inside the app's dirs ("" stays "": the config
    then says to pick one)."""
    text = str(value or "").strip()
    if not text:
        return ""
    path = resolve_inside(text, dataset_roots(settings), what="dataset folder")
    if not path.is_dir():
        raise ConfigError(f"Dataset: {text!r} is a file, not a corpus folder built by the Data tab.")
    return str(path)


# ---- form -> config -------------------------------------------------------------------------------------
def config_from_form(ctx: AppContext, values: Mapping[str, Any]) -> TrainConfig:
    """Validate the form into a TrainConfig (ConfigError/DataError/JobError with a user message)."""
    values = dict(values)
    values["dataset"] = resolve_dataset(values.get("dataset"), ctx.settings)
    config = TrainConfig.from_form(values)
    return views.check_space_limits(config, ctx.settings, training_device(ctx))


def command_text(ctx: AppContext, values: Mapping[str, Any]) -> str:
    """The CLI equivalent of the form, or a shell comment saying what is wrong with it."""
    try:
        config = TrainConfig.from_form(values, check_paths=False)
    except IacdemoError as exc:
        return f"# {exc}"
    if not config.run_name:
        config = replace(config, run_name=auto_run_name(config.model))
    return config.command_line(ctx.settings)


def ensure_demo_dataset(ctx: AppContext, progress: Progress | None = None) -> Path:
    return ensure_quick_demo_dataset(ctx.settings, progress=progress)


def quick_demo_values(ctx: AppContext, progress: Progress | None = None) -> dict[str, Any]:
    """The CPU preset as form values; builds its DynamoDB dataset first if it is missing."""
    dataset = ensure_demo_dataset(ctx, progress)
    return views.config_values(quick_demo(ctx.settings, dataset=dataset))


# ---- job actions ------------------------------------------------------------------------------------------
def start_job(ctx: AppContext, values: Mapping[str, Any]) -> str:
    return get_runner(ctx).start(config_from_form(ctx, values))


def stop_job(ctx: AppContext, owned: Sequence[str] = ()) -> str:
    """Stop the running job; on a Space only from the browser tab that started it."""
    runner = get_runner(ctx)
    active = runner.active_run()
    if not active:
        raise JobError("No training job is running.")
    if ctx.settings.on_space and active not in (owned or ()):
        raise JobError(f"Run '{active}' was started by another visitor: on this shared Space only the "
                       "browser tab that started a job can stop it.")
    runner.stop(active)
    return active


def resume_job(ctx: AppContext, run_name: str | None) -> str:
    """Continue a stopped run from its newest checkpoint."""
    if not (run_name or "").strip():
        raise ConfigError("Pick the run to resume under Runs (a stopped run has a checkpoint to go on from).")
    name = runs.validate_run_name(run_name)
    blocked = views.training_blocked(ctx.settings, training_device(ctx))
    if blocked:
        raise JobError(blocked.replace("**", ""))
    status = runs.read_status(runs.run_dir_for(name, ctx.settings))
    if status.get("status") == "finished":
        raise JobError(f"Run '{name}' already finished all its {status.get('total_steps') or ''} steps; "
                       "start a new run to train longer.")
    return get_runner(ctx).resume(name)


def delete_job(ctx: AppContext, run_name: str | None, confirmed: bool) -> str:
    if ctx.settings.on_space:
        raise JobError("Deleting runs is off on this shared Space. " + views.duplicate_hint(ctx.settings))
    if not (run_name or "").strip():
        raise ConfigError("Pick the run to delete under Runs.")
    name = runs.validate_run_name(run_name)
    if not confirmed:
        raise ConfigError(f"Tick “Yes, delete” first: deleting '{name}' removes its adapter and checkpoints "
                          "for good.")
    if get_runner(ctx).active_run() == name:
        raise JobError(f"Run '{name}' is running: stop it before deleting it.")
    runs.delete_run(name, ctx.settings)
    return name


def export_job(ctx: AppContext, run_name: str | None, folder: str | None,
               progress: Progress | None = None) -> Path:
    """Merge a run's adapter into its base model, saved under the cache's exports dir (nowhere else)."""
    if ctx.settings.on_space:
        raise JobError("Exporting merged models is off on this shared Space (disk and memory are shared). "
                       + views.duplicate_hint(ctx.settings))
    if not (run_name or "").strip():
        raise ConfigError("Pick the run to export under Runs.")
    name = runs.validate_run_name(run_name)
    folder_name = check_name((folder or "").strip() or name, what="export folder name")
    run_dir = runs.run_dir_for(name, ctx.settings)
    if not run_dir.is_dir():
        raise JobError(f"No run named '{name}'.")
    if runs.read_status(run_dir).get("status") in runs.ACTIVE:
        raise JobError(f"Run '{name}' is still training: export it once it has finished or been stopped.")
    return export_merged(run_dir, ctx.settings.exports_dir / folder_name, settings=ctx.settings, progress=progress)


def overlay_rows(ctx: AppContext, names: Sequence[str] | None) -> dict[str, list[dict[str, Any]]]:
    """Metrics of the picked runs (names checked: they become paths)."""
    picked = {}
    for name in names or []:
        run_dir = runs.run_dir_for(runs.validate_run_name(name), ctx.settings)
        picked[name] = runs.read_metrics(run_dir)
    return picked


def iter_snapshots(runner: JobRunner, run_name: str, poll_s: float = POLL_S,
                   keep_going: Callable[[], bool] = lambda: True) -> Iterator[JobSnapshot]:
    """Poll a run until it leaves queued/running; the last snapshot yielded is its final state.

    Stops early (without yielding) once `keep_going()` is false, i.e. a newer stream replaced this one.
    """
    while keep_going():
        snap = runner.poll(run_name, log_lines=LOG_LINES)
        yield snap
        if not snap.running:
            return
        time.sleep(poll_s)


# ---- view records -----------------------------------------------------------------------------------------
KEEP = object()  # "leave the picked run as it is" (None would clear it)


@dataclass
class RunsView:
    """The Runs section: its table, and (when they may have changed) the pickers' choices."""

    table: pd.DataFrame
    choices: list[tuple[str, str]] | None = None  # "name · status · loss" -> name; None: unchanged
    selected: Any = KEEP  # the run to pick, None to clear, KEEP to leave the pick alone

    @property
    def names(self) -> list[str] | None:
        return None if self.choices is None else [name for _, name in self.choices]


@dataclass
class LiveView:
    """One update of the live panel; None fields are left as they are."""

    stats: str
    progress: str
    points: pd.DataFrame | None = None
    axes: views.PlotAxes | None = None  # sent after the points, never with them (see PlotAxes)
    log: str | None = None
    runs: RunsView | None = None


@dataclass
class OverlayView:
    frame: pd.DataFrame
    axes: views.PlotAxes
    note: str


# ---- the controller ---------------------------------------------------------------------------------------
class TrainController:
    """The Train tab's handlers for one app (shared by its visitors; per-visitor values come in as
    arguments: the watched run, the runs this browser tab started, its session id)."""

    def __init__(self, ctx: AppContext, poll_s: float = POLL_S):
        self.ctx = ctx
        self.settings = ctx.settings
        self.poll_s = poll_s
        self.registry = views.StreamRegistry()

    @property
    def runner(self) -> JobRunner:
        return get_runner(self.ctx)

    def blocked(self) -> str | None:
        return views.training_blocked(self.settings, training_device(self.ctx))

    def space_note(self) -> str | None:
        return views.space_note(self.settings, training_device(self.ctx))

    def warm_jobs(self) -> None:
        """Opening the tab starts the job helper's imports, so that the first Start is forked too and
        skips them."""
        if not self.blocked():
            self.runner.warm_job_server()

    # -- lists, always read when shown ------------------------------------------------------------------
    def datasets(self) -> list[tuple[str, str]]:
        return dataset_choices(self.settings)

    def form_defaults(self) -> dict[str, Any]:
        return views.form_defaults(self.settings, [value for _, value in self.datasets()])

    def runs_view(self, selected: Any = KEEP) -> RunsView:
        infos = runs.list_runs(self.settings)
        return RunsView(views.runs_frame(infos), views.run_choices(infos), selected)

    # -- form -------------------------------------------------------------------------------------------
    def command(self, values: Mapping[str, Any]) -> str:
        return command_text(self.ctx, values)

    def preset(self, progress: Progress | None = None) -> dict[str, Any]:
        """The quick-demo recipe as form values (building its dataset first when missing); starts nothing."""
        return quick_demo_values(self.ctx, progress)

    def demo_dataset(self, progress: Progress | None = None) -> str:
        return str(ensure_demo_dataset(self.ctx, progress))

    # -- jobs -------------------------------------------------------------------------------------------
    def start(self, values: Mapping[str, Any], owned: Sequence[str]) -> tuple[str, list[str]]:
        """Start a job from the form; returns its name and this tab's runs including it."""
        name = start_job(self.ctx, values)
        return name, [*(owned or []), name]

    def resume(self, picked: str | None, owned: Sequence[str]) -> tuple[str, list[str]]:
        name = resume_job(self.ctx, picked)
        return name, [*(owned or []), name]

    def stop(self, owned: Sequence[str]) -> str:
        return stop_job(self.ctx, owned)

    def delete(self, name: str | None, confirmed: bool) -> RunsView:
        delete_job(self.ctx, name, confirmed)
        return self.runs_view(selected=None)

    def export(self, name: str | None, folder: str | None, progress: Progress | None = None) -> str:
        out = export_job(self.ctx, name, folder, progress)
        return (f"Merged model saved to `{out}`: it loads with `AutoModelForCausalLM.from_pretrained` and works "
                "as a model id in this app.")

    def run_to_show(self) -> str | None:
        """What a (re)loaded page shows: the running job, else the newest run."""
        active = self.runner.active_run()
        if active:
            return active
        infos = runs.list_runs(self.settings)
        return infos[0].name if infos else None

    # -- live panel -------------------------------------------------------------------------------------
    def stream(self, run_name: str | None, session: str = "anonymous") -> Iterator[LiveView]:
        """Stream one run into the live panel until it ends (or this session starts another stream).

        Each snapshot gives one view; the chart's legend and x range follow in a view of their own when
        they change. The runs table is re-read whenever the run's step or status moves, so its row never
        lags the live panel; the pickers' labels (status, final loss) when the status changes.
        """
        token = self.registry.begin(session)
        try:
            if not run_name:
                empty = views.loss_frame([])
                yield LiveView(views.stats_html(None), views.progress_html(None), points=empty, log=views.log_html(""))
                yield LiveView(views.stats_html(None), views.progress_html(None), axes=views.plot_axes(empty))
                return
            seen_rows, seen_log, seen_axes, seen_row_state, seen_status = -1, None, None, None, None
            keep_going = lambda: self.registry.is_current(session, token)  # noqa: E731
            for snap in iter_snapshots(self.runner, run_name, self.poll_s, keep_going):
                stats, bar = views.stats_html(snap), views.progress_html(snap)
                frame = views.loss_frame(snap.metrics) if len(snap.metrics) != seen_rows else None
                axes = views.plot_axes(frame, snap.total_steps) if frame is not None else seen_axes
                row_state = (snap.status, snap.step, snap.total_steps)
                runs_view = None
                if row_state != seen_row_state:
                    runs_view = self.runs_view()
                    if snap.status == seen_status:  # only the row moved: the pickers' choices stay
                        runs_view.choices = None
                yield LiveView(stats, bar, points=frame,
                               log=views.log_html(snap.log_tail) if snap.log_tail != seen_log else None,
                               runs=runs_view)
                if axes != seen_axes:
                    yield LiveView(stats, bar, axes=axes)
                seen_rows, seen_log, seen_axes = len(snap.metrics), snap.log_tail, axes
                seen_row_state, seen_status = row_state, snap.status
        except IacdemoError as exc:  # the run was deleted while shown
            empty = views.loss_frame([])
            missing = f'<div class="train-stats" data-status="missing">{html.escape(str(exc))}</div>'
            yield LiveView(missing, views.progress_html(None), points=empty, log=views.log_html(""),
                           runs=self.runs_view())
            yield LiveView(missing, views.progress_html(None), axes=views.plot_axes(empty))
        finally:
            self.registry.end(session, token)

    # -- runs -------------------------------------------------------------------------------------------
    def overlay(self, names: Sequence[str] | None) -> OverlayView:
        rows = overlay_rows(self.ctx, names)
        frame = views.overlay_frame(rows)
        return OverlayView(frame, views.plot_axes(frame), views.overlay_note(rows))
