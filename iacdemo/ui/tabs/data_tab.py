"""Data tab: build the continued-pre-training corpus from the docs, and look at what came out.

The handlers only translate widget values into a `build_corpus` call and its stats into tables and a
plot; reading, cleaning, segmenting and counting live in `iacdemo.corpus`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import gradio as gr
import pandas as pd

from iacdemo.corpus.build import CorpusResult, build_corpus, load_corpus
from iacdemo.corpus.catalog import NO_SERVICE, list_corpora, list_source_files, service_counts
from iacdemo.errors import DataError
from iacdemo.number_input import parse_number
from iacdemo.safe_paths import check_name, resolve_inside
from iacdemo.settings import Settings
from iacdemo.ui.feedback import error_box, hide_error, show_error
from iacdemo.ui.state import AppContext

TAB_ID = "data"
TITLE = "Data"
DEFAULT_NAME = "docs-corpus"
SAMPLE_ROWS = 8
SAMPLE_CHARS = 400
TOP_SERVICES = 25
SEQ_LEN_CHOICES = (128, 256, 512, 1024, 2048)
SAMPLE_COLUMNS = ["source", "path", "subcategory", "n_tokens", "text"]


# ---- choices -----------------------------------------------------------------------------------------
def source_file_choices(settings: Settings) -> list[tuple[str, str]]:
    return [(f.label, f.name) for f in list_source_files(settings.corpus_dir)]


def allowed_roots(settings: Settings) -> list[Path]:
    """Where a user-typed docs path may point: the app's data, cache and runs folders."""
    return [settings.data_dir, settings.cache_dir, settings.runs_dir]


def resolve_sources(files: Sequence[str] | None, other_path: str | None, settings: Settings) -> list[Path]:
    """The picked corpus files plus an optional extra path, all checked to lie inside the app's folders."""
    known = {f.name: f.path for f in list_source_files(settings.corpus_dir)}
    paths = []
    for name in files or []:
        if name not in known:
            raise DataError(f"Unknown source file {name!r}; available: {', '.join(known) or 'none'}.")
        paths.append(known[name])
    if other_path and other_path.strip():
        paths.append(resolve_inside(other_path, allowed_roots(settings), what="docs path"))
    if not paths:
        raise DataError("Pick at least one source file (or give a docs path).")
    return paths


def service_choices(files: Sequence[str] | None, other_path: str | None, include_cdktf: bool,
                    settings: Settings) -> list[tuple[str, str]]:
    """Services (the pages' `subcategory`) of the picked sources, labelled with their doc counts."""
    try:
        paths = resolve_sources(files, other_path, settings)
    except DataError:
        return []  # the build button reports the problem; the dropdown just stays empty
    return [(f"{name} ({n:,} docs)", name) for name, n in service_counts(paths, include_cdktf)
            if name != NO_SERVICE]


def dataset_dir(name: str | None, settings: Settings) -> Path:
    return settings.datasets_dir / check_name(name, what="dataset name")


def parse_seq_len(value) -> int:
    """Tokens per segment from the form; its range is `build_corpus`'s to check, for the CLI as well."""
    return parse_number("Sequence length (tokens)", value, integer=True)


# ---- the build -----------------------------------------------------------------------------------------
def run_build(ctx: AppContext, files: Sequence[str] | None, other_path: str | None, services: Sequence[str] | None,
              path_glob: str | None, seq_len, include_cdktf: bool, name: str | None,
              progress=None) -> CorpusResult:
    """Validate the form, then build and save the corpus under the cache's datasets folder.

    A name that is taken keeps the earlier dataset: the new one is saved as NAME-2 (the summary says
    where), so a rebuild never replaces anyone's dataset, e.g. two Space visitors using the default name.
    """
    settings = ctx.settings
    out_dir = dataset_dir(name, settings)
    length = parse_seq_len(seq_len)
    sources = resolve_sources(files, other_path, settings)
    return build_corpus(sources, out_dir=out_dir, seq_len=length, model_id=ctx.model_id,
                        services=list(services or []) or None, path_pattern=(path_glob or "").strip() or None,
                        include_cdktf=bool(include_cdktf), progress=progress, settings=settings,
                        tokenizer=ctx.tokenizer(), keep_existing=True)


# ---- views of a result ----------------------------------------------------------------------------------
def summary_md(stats: dict, out_dir: Path | None) -> str:
    filters = stats.get("filters") or {}
    scope = []
    if filters.get("services"):
        scope.append("services " + ", ".join(filters["services"]))
    if filters.get("path_pattern"):
        scope.append(f"paths `{filters['path_pattern']}`")
    lines = [
        f"### {stats.get('rows', 0):,} rows, {stats.get('tokens', 0):,} tokens",
        f"From {stats.get('docs_kept', stats.get('docs', 0)):,} documents"
        + (f" ({'; '.join(scope)})" if scope else "")
        + f", segments of at most {stats.get('seq_len')} tokens (mean {stats.get('mean_tokens')}), "
        f"tokenized for `{stats.get('model')}`.",
        f"Duplicates removed: {stats.get('duplicates_exact', 0):,} exact, {stats.get('duplicates_near', 0):,} near. "
        f"Padding share if every row is padded to {stats.get('seq_len')}: {100 * stats.get('pad_fraction', 0):.0f}%.",
    ]
    if stats.get("seconds") is not None:
        lines.append(f"Built in {stats['seconds']} s.")
    if out_dir is not None:
        lines.append(f"Saved to `{out_dir}`.")
    return "\n\n".join(lines)


def _breakdown(table: dict, key: str, top: int | None = None) -> pd.DataFrame:
    items = list(table.items())[:top] if top else list(table.items())
    return pd.DataFrame([[k, v.get("docs", 0), v["rows"], v["tokens"]] for k, v in items],
                        columns=[key, "docs", "rows", "tokens"])


def per_source_frame(stats: dict) -> pd.DataFrame:
    return _breakdown(stats.get("sources") or {}, "source")


def per_service_frame(stats: dict, top: int = TOP_SERVICES) -> pd.DataFrame:
    return _breakdown(stats.get("services") or {}, "service", top)


def histogram_frame(stats: dict) -> pd.DataFrame:
    """Bins labelled with zero-padded bounds ("065-128"), so the plot's alphabetical order is numeric."""
    bins = stats.get("length_histogram") or []
    width = len(str(bins[-1]["to"])) if bins else 1
    labels = [f"{b['from']:0{width}d}-{b['to']:0{width}d}" for b in bins]
    # explicit dtypes: an empty frame would otherwise make the x axis numeric for good
    return pd.DataFrame({"tokens": pd.Series(labels, dtype=str),
                         "segments": pd.Series([b["count"] for b in bins], dtype=int)})


def sample_frame(dataset, n: int = SAMPLE_ROWS) -> pd.DataFrame:
    """Rows spread evenly over the corpus (the first rows would all come from one document)."""
    total = len(dataset)
    picks = sorted({round(k * (total - 1) / max(1, n - 1)) for k in range(min(n, total))}) if total else []
    rows = dataset.select(picks).to_list() if picks else []
    for row in rows:
        if len(row["text"]) > SAMPLE_CHARS:
            row["text"] = row["text"][:SAMPLE_CHARS] + " …"
    return pd.DataFrame(rows, columns=SAMPLE_COLUMNS)


def result_views(result: CorpusResult) -> list:
    """Values for the summary, per-source table, per-service table, histogram and sample rows."""
    return [summary_md(result.stats, result.out_dir), per_source_frame(result.stats),
            per_service_frame(result.stats), histogram_frame(result.stats), sample_frame(result.dataset)]


def corpus_choices(settings: Settings) -> list[tuple[str, str]]:
    return [(info.label, info.name) for info in list_corpora(settings.datasets_dir)]


def open_corpus(name: str | None, settings: Settings) -> CorpusResult:
    return load_corpus(dataset_dir(name, settings))


# ---- layout -----------------------------------------------------------------------------------------------
def build(ctx: AppContext) -> None:
    settings = ctx.settings
    files0 = source_file_choices(settings)
    gr.Markdown("Turn documentation into the continued-pre-training corpus: pick sources, narrow them "
                "down (one service trains in minutes on a CPU), and build.",
                elem_classes=["hide-in-present"])
    with gr.Row():
        with gr.Column(scale=3):
            files = gr.CheckboxGroup(choices=files0, value=[v for _, v in files0], label="Source files",
                                     info=f"Packed docs in {settings.corpus_dir}", elem_id="data-files")
            other_path = gr.Textbox(label="Other docs path (optional)", placeholder="a folder of .md files "
                                    "or a .jsonl.gz inside the data, cache or runs folder", elem_id="data-path")
            # allow_custom_value: a path typed and then Build clicked sends two events at once, the path's
            # blur (which narrows these choices to the new sources') and the build, whose services are still
            # the page's old pick; gradio would refuse a pick no longer in its choices with its own "Value ...
            # is not in the list of choices" toast. build_corpus checks the services itself and says what
            # is wrong (the path, or no documents for a service).
            services = gr.Dropdown(choices=service_choices([v for _, v in files0], "", False, settings),
                                   multiselect=True, allow_custom_value=True, label="Services (subcategory)",
                                   info="Empty = all services", elem_id="data-services")
            path_glob = gr.Textbox(label="Path pattern (glob)", placeholder="e.g. website/docs/r/dynamodb_*",
                                   elem_id="data-glob")
        with gr.Column(scale=2):
            seq_len = gr.Dropdown(choices=list(SEQ_LEN_CHOICES), value=512, allow_custom_value=True,
                                  label="Segment length (tokens)", elem_id="data-seq-len")
            include_cdktf = gr.Checkbox(label="Include CDKTF translations", value=False,
                                        info="Python/TypeScript re-renderings of the HCL pages",
                                        elem_id="data-cdktf")
            name = gr.Textbox(label="Dataset name", value=DEFAULT_NAME, elem_id="data-name",
                              info="A plain folder name; saved in the cache's datasets/ folder")
            build_btn = gr.Button("Build corpus", variant="primary", elem_id="data-build")
            gr.Markdown("Tokenized with the current model's tokenizer (see the header).",
                        elem_classes=["hide-in-present"])
    errors = error_box("data-error")
    summary = gr.Markdown("", elem_id="data-summary")
    with gr.Row():
        sources_df = gr.Dataframe(per_source_frame({}), label="Per source", interactive=False,
                                  elem_id="data-per-source")
        histogram = gr.BarPlot(histogram_frame({}), x="tokens", y="segments", label="Segment lengths",
                               elem_id="data-histogram")
    services_df = gr.Dataframe(per_service_frame({}), label=f"Per service (top {TOP_SERVICES} by tokens)",
                               interactive=False, elem_id="data-per-service")
    samples_df = gr.Dataframe(pd.DataFrame(columns=SAMPLE_COLUMNS), label="Sample rows", interactive=False,
                              wrap=True, elem_id="data-samples")
    with gr.Accordion("Corpora built earlier", open=False):
        with gr.Row(equal_height=True):
            existing = gr.Dropdown(choices=corpus_choices(settings), label="Corpus", scale=4,
                                   elem_id="data-existing")
            refresh_btn = gr.Button("↻", scale=0, min_width=50)
            show_btn = gr.Button("Show", scale=1)

    result_outputs = [summary, sources_df, services_df, histogram, samples_df]

    def unchanged() -> list:
        return [gr.update() for _ in result_outputs]

    def on_sources_change(picked, other, cdktf, chosen):
        choices = service_choices(picked, other, cdktf, settings)
        values = {v for _, v in choices}
        return gr.update(choices=choices, value=[c for c in chosen or [] if c in values])

    def on_build(picked, other, chosen, glob, length, cdktf, dataset_name, progress=gr.Progress()):
        def report(fraction: float, message: str) -> None:
            progress(fraction, desc=message)

        try:
            result = run_build(ctx, picked, other, chosen, glob, length, cdktf, dataset_name, report)
        except Exception as exc:  # noqa: BLE001 - shown to the user, the app keeps serving
            return [show_error(exc), *unchanged(), gr.update()]
        return [hide_error(), *result_views(result),
                gr.update(choices=corpus_choices(settings), value=result.out_dir.name)]

    def on_show(corpus_name):
        try:
            result = open_corpus(corpus_name, settings)
        except Exception as exc:  # noqa: BLE001
            return [show_error(exc), *unchanged()]
        return [hide_error(), *result_views(result)]

    for trigger in (files.change, other_path.blur, include_cdktf.change):
        trigger(on_sources_change, inputs=[files, other_path, include_cdktf, services], outputs=services,
                api_visibility="private", show_progress="hidden")
    build_btn.click(on_build, inputs=[files, other_path, services, path_glob, seq_len, include_cdktf, name],
                    outputs=[errors, *result_outputs, existing], concurrency_limit=1,
                    concurrency_id="corpus-build", api_visibility="private")
    refresh_btn.click(lambda: gr.update(choices=corpus_choices(settings)), outputs=existing,
                      api_visibility="private", show_progress="hidden")
    show_btn.click(on_show, inputs=existing, outputs=[errors, *result_outputs], api_visibility="private")
