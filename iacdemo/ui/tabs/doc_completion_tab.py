"""Doc-completion tab: raw documentation text continued by base and tuned models, and perplexity.

Continued pre-training teaches the docs' own language, so the fairest look at it has no chat template:
give both models the start of a docs page (or a callout opener) and watch them continue it. Callout
lines are highlighted, because writing `~> **Note:**` where the docs would is a habit only the tuned
model picks up. The perplexity panel turns that impression into a number, on a page the run never
trained on.
"""
from __future__ import annotations

import gradio as gr
from gradio.context import Context

from iacdemo.errors import ConfigError, DataError
from iacdemo.generation.callouts import CALLOUT_CSS
from iacdemo.generation.gen_settings import DOC_COMPLETION as PRESET
from iacdemo.generation.gen_settings import GenSettings
from iacdemo.generation.presets import load_presets
from iacdemo.generation.side_by_side import default_columns, stream_side_by_side
from iacdemo.ui.compare_views import (MAX_SCORED_PAGES, StopSwitches, TrainingPages, adapter_choices,
                                      attach_run_adapter, corpus_pages, default_adapter_choice, default_pages,
                                      doc_output_html, find_run, page_choices, perplexity_html, picked_pages,
                                      refreshed_adapter_choices, resolve_page, score_pages, stats_line,
                                      training_pages)
from iacdemo.ui.feedback import error_box, hide_error, show_error
from iacdemo.ui.gen_controls import gen_controls
from iacdemo.ui.presentation import HIDE_IN_PRESENT
from iacdemo.ui.state import AppContext
from iacdemo.ui.tabs.compare_tab import PIN_INFO, pin_message

TAB_ID = "doc-completion"
TITLE = "Doc completion"
PANES = 2  # base and fine-tuned
FORM_ORDER = ("max_new_tokens", "temperature", "repetition_penalty", "seed")  # on_generate's order (top-p: the preset's)
PERPLEXITY_WINDOW = 512


def doc_presets(ctx: AppContext) -> list[tuple[str, str]]:
    try:
        return load_presets(ctx.settings).doc_choices()
    except DataError:
        return []


def split_for(choice: str | None, ctx: AppContext) -> TrainingPages:
    try:
        return training_pages(find_run(choice, ctx.settings))
    except Exception as exc:  # noqa: BLE001 - a broken run only loses the held-out labels
        return TrainingPages(note=f"Cannot tell which pages this run trained on: {exc}")


def split_note(split: TrainingPages) -> str:
    if split.note:
        return split.note
    if not split.held_out:
        return f"This run trained on all {len(split.trained)} pages of its dataset: no page was held out."
    return (f"This run trained on {len(split.trained)} pages and held {len(split.held_out)} of its dataset's "
            "pages out for evaluation; held-out pages are listed first. Scored by default: a trained page and "
            "a held-out page.")


def page_picker_update(choice: str | None, ctx: AppContext, current=None):
    """New page choices for the picked run; pages already picked stay picked, else trained vs held-out."""
    try:
        pages = corpus_pages(ctx.settings.corpus_dir)
    except DataError as exc:
        return gr.update(choices=[], value=[]), str(exc)
    split = split_for(choice, ctx)
    kept = [p for p in picked_pages(current) if p in pages]
    return gr.update(choices=page_choices(pages, split), value=kept or default_pages(pages, split)), split_note(split)


def session_key(request: gr.Request | None) -> str:
    return (getattr(request, "session_hash", None) or "anonymous") + ":doc"


def build(ctx: AppContext) -> None:
    settings = ctx.settings
    presets = doc_presets(ctx)
    stops = StopSwitches()
    gr.HTML(f"<style>{CALLOUT_CSS}</style>", elem_id="doc-style")
    gr.Markdown("Raw documentation text, continued by both models with no chat template. Callout lines "
                "(`->`, `~>`, `!>`, **Note:**/**Warning:**) are highlighted: the docs' style is what continued "
                "pre-training teaches.", elem_classes=HIDE_IN_PRESENT)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            prompt = gr.Textbox(label="Text to continue", lines=6, max_lines=14, elem_id="doc-prompt",
                                value=presets[0][1] if presets else "# Resource: aws_dynamodb_contributor_insights\n")
            with gr.Row():
                generate_btn = gr.Button("Continue", variant="primary", elem_id="doc-generate")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="doc-stop")
        with gr.Column(scale=2):
            preset = gr.Dropdown(choices=presets, value=None, label="Preset openers", elem_id="doc-preset")
            with gr.Row(equal_height=True):
                adapter = gr.Dropdown(choices=adapter_choices(settings, ctx.model_id),
                                      value=default_adapter_choice(settings, ctx.model_id),
                                      label="Fine-tuned adapter (a training run)", scale=5, info=PIN_INFO,
                                      elem_id="doc-adapter")
                refresh_btn = gr.Button("↻", scale=0, min_width=50, elem_id="doc-refresh")
                pin_btn = gr.Button("Pin", scale=0, min_width=60, elem_id="doc-pin")
            with gr.Accordion("Generation settings", open=False, elem_classes=HIDE_IN_PRESENT):
                controls = gen_controls(PRESET, settings, "doc", FORM_ORDER)
    errors = error_box("doc-error")
    status = gr.Markdown("", elem_id="doc-status")
    titles, outputs_html, columns = [], [], []
    with gr.Row(equal_height=False):
        for i in range(PANES):
            with gr.Column(visible=True, elem_id=f"doc-pane-{i}", elem_classes=["iac-pane"]) as column:
                titles.append(gr.Markdown(f"**{['Base model', 'Fine-tuned'][i]}**", elem_id=f"doc-title-{i}"))
                outputs_html.append(gr.HTML("", elem_id=f"doc-out-{i}"))
            columns.append(column)
    with gr.Accordion("Perplexity: did it learn the docs?", open=True, elem_id="doc-perplexity"):
        gr.Markdown("How surprised each model is by a documentation page (exp of the mean loss per token). "
                    "A page the run trained on shows memorisation; a page it held out is the fair test.",
                    elem_classes=HIDE_IN_PRESENT)
        with gr.Row(equal_height=False):
            # choices, never free text: typing filters the pages, and the value is always a list of page paths
            page = gr.Dropdown(choices=[], value=[], label="Documentation pages", allow_custom_value=False,
                               multiselect=True, max_choices=MAX_SCORED_PAGES, filterable=True,
                               info=f"Up to {MAX_SCORED_PAGES}; type part of a page name to filter the list",
                               scale=5, elem_id="doc-page")
            score_btn = gr.Button("Score perplexity", variant="primary", scale=1, elem_id="doc-score")
        split_md = gr.Markdown("", elem_id="doc-split")
        ppl_html = gr.HTML("", elem_id="doc-ppl")

    def on_generate(text, adapter_choice, max_new, temp, penalty, seed_value, request: gr.Request,
                    progress=gr.Progress()):
        blank = [gr.update()] * (3 * PANES)
        try:
            gen = GenSettings.from_values(dict(zip(FORM_ORDER, (max_new, temp, penalty, seed_value))), PRESET,
                                          settings)
            if not isinstance(text, str) or not text.strip():
                raise ConfigError("The prompt is empty: type the start of a documentation page (or pick a preset).")
        except Exception as exc:  # noqa: BLE001
            yield [show_error(exc), "", *blank]
            return
        if not ctx.model_loaded:
            yield [hide_error(), f"Loading `{ctx.model_id}` (first use, this takes a moment)…", *blank]
        key = session_key(request)
        stop_event = stops.arm(key)
        try:
            session = ctx.model_session(progress=lambda f, m: progress(f, desc=m))
            adapter_name = attach_run_adapter(session, adapter_choice, settings)
            cols = default_columns(adapter_name)
            stream = stream_side_by_side(session, cols, text, gen, raw=True, settings=settings,
                                         stop_event=stop_event)
        except Exception as exc:  # noqa: BLE001
            stops.release(key, stop_event)
            yield [show_error(exc), "", *blank]
            return
        seen = stream.prompts[0].text  # what the model really continues (cut from the left if too long)
        layout = ([gr.update(visible=i < len(cols)) for i in range(PANES)]
                  + [gr.update(value=f"**{cols[i].label}**") if i < len(cols) else gr.update() for i in range(PANES)])

        def views(texts):
            return [doc_output_html(seen, texts[i]) if i < len(texts) else "" for i in range(PANES)]

        texts = list(stream.texts)
        yield [hide_error(), "Generating…", *layout, *views(texts)]
        try:
            for texts in stream:  # the layout again on every tick: a client may skip a tick, never the titles
                yield [gr.update(), gr.update(), *layout, *views(texts)]
        except Exception as exc:  # noqa: BLE001
            yield [show_error(exc), "", *[gr.update()] * (3 * PANES)]
            return
        finally:
            stops.release(key, stop_event)
        summary = stats_line(stream) + "".join(f"\n\n{note}" for note in stream.notes)
        yield [gr.update(), summary, *layout, *views(texts)]

    def on_score(adapter_choice, picked, progress=gr.Progress()):
        try:
            pages = corpus_pages(settings.corpus_dir)
            paths = [resolve_page(p, pages) for p in picked_pages(picked)]
            if not paths:
                raise ConfigError("Pick a documentation page to score.")
            session = ctx.model_session(progress=lambda f, m: progress(f, desc=m))
            adapter_name = attach_run_adapter(session, adapter_choice, settings)
            results = score_pages(session, paths, pages, adapter_name, max_tokens=settings.perplexity_tokens,
                                  window=PERPLEXITY_WINDOW, progress=lambda f, m: progress(f, desc=m))
        except Exception as exc:  # noqa: BLE001
            return show_error(exc), gr.update()
        labels = {"base": "Base model", **({adapter_name: f"Fine-tuned ({adapter_name})"} if adapter_name else {})}
        return hide_error(), perplexity_html(results, labels, split_for(adapter_choice, ctx))

    adapter_picked = gr.State(False)  # has this visitor picked an adapter? (else it follows the best run)

    def refresh(current, was_picked):
        choices, value = refreshed_adapter_choices(current, settings, picked=bool(was_picked),
                                                   model_id=ctx.model_id)
        return gr.update(choices=choices) if value is None else gr.update(choices=choices, value=value)

    generate_btn.click(on_generate, inputs=[prompt, adapter, *(controls[name] for name in FORM_ORDER)],
                       outputs=[errors, status, *columns, *titles, *outputs_html], concurrency_limit=4,
                       concurrency_id="model-generation", api_visibility="private", show_progress="minimal")
    def on_stop(request: gr.Request):
        stops.stop(session_key(request))

    stop_btn.click(on_stop, queue=False, api_visibility="private")
    preset.change(lambda p: gr.update() if not p else p, inputs=preset, outputs=prompt, queue=False,
                  api_visibility="private")
    score_btn.click(on_score, inputs=[adapter, page], outputs=[errors, ppl_html], concurrency_id="model-generation",
                    api_visibility="private", show_progress="minimal")
    refresh_btn.click(refresh, inputs=[adapter, adapter_picked], outputs=adapter, queue=False,
                      api_visibility="private", show_progress="hidden")
    adapter.input(lambda: True, outputs=adapter_picked, queue=False, api_visibility="private", show_progress="hidden")
    pin_btn.click(lambda choice: pin_message(choice, settings, ctx.model_id), inputs=adapter,
                  outputs=[errors, status, adapter],
                  queue=False, api_visibility="private", show_progress="hidden")
    adapter.change(lambda choice: page_picker_update(choice, ctx), inputs=adapter, outputs=[page, split_md],
                   api_visibility="private", show_progress="hidden")

    tab = Context.block
    if isinstance(tab, gr.Tab):
        # the page list is built on first visit, not at start-up (reading the corpus takes a moment), and
        # after the adapter list, so the default pages are those of the adapter shown
        tab.select(refresh, inputs=[adapter, adapter_picked], outputs=adapter, queue=False,
                   api_visibility="private", show_progress="hidden").then(
            lambda choice, current: page_picker_update(choice, ctx, current), inputs=[adapter, page],
            outputs=[page, split_md], api_visibility="private", show_progress="hidden")
