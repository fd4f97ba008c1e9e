"""Compare tab: the same request to the base model and to a fine-tuned adapter, streaming side by side.

All panes stream from ONE generator that yields every pane on every tick (as FastChat's arena does),
fed by one batched generation on the shared model. When the answers are complete each gets the
grounded-check badges and its extracted HCL. Every comparison is recorded in memory, so it can be
saved and replayed later with its original timing: a talk then survives a dead GPU machine.
"""
from __future__ import annotations

import threading
from typing import Any

import gradio as gr
from gradio.context import Context

from iacdemo.errors import ConfigError, DataError
from iacdemo.experiment.compare_repair import repair_panes, rounds_markdown
from iacdemo.experiment.repair import default_diagnostics
from iacdemo.generation.gen_settings import COMPARE as PRESET
from iacdemo.generation.gen_settings import GenSettings
from iacdemo.generation.presets import Presets, load_presets
from iacdemo.generation.recording import Recorder, replay
from iacdemo.generation.side_by_side import default_columns, stream_side_by_side
from iacdemo.hcl.highlight import highlight_css
from iacdemo.settings import SYSTEM_PROMPT
from iacdemo.terraform.real import resolve_mode
from iacdemo.terraform.real import terraform_lines as lines
from iacdemo.terraform.schema import keep_schema_resident, load_schema
from iacdemo.ui.compare_views import (MAX_PANES, NO_ADAPTER, PENDING_CHECK_HTML, Conversation, StopSwitches,
                                      adapter_choices, attach_run_adapter, button_label, check_answers,
                                      check_html, column_notes, default_adapter_choice, describe_recording,
                                      general_notes, load_recording, pane_messages, pin_run, recording_choices,
                                      recording_settings, refreshed_adapter_choices, save_recording,
                                      stats_line)
from iacdemo.ui.feedback import error_box, hide_error, show_error
from iacdemo.ui.gen_controls import gen_controls
from iacdemo.ui.presentation import HIDE_IN_PRESENT, PRESENT_ONLY
from iacdemo.ui.state import AppContext

TAB_ID = "compare"
TITLE = "Compare"
PANE_HEIGHT = 380
REPLAY_SPEEDS = [("1x (as recorded)", 1.0), ("2x", 2.0), ("4x", 4.0)]
PIN_INFO = "Steps and final loss of each run; Pin makes the picked run everyone's default"
FORM_ORDER = ("temperature", "top_p", "repetition_penalty", "max_new_tokens", "seed")  # on_send's order
INITIAL_LABELS = ["Base model", "Fine-tuned (pick an adapter)", "Base + retrieved docs"]
REPAIR_ROUNDS = 2  # the experiment's repair system; more rounds rarely help a small model


def terraform_lines(code: str) -> list[str]:
    """Terraform's own diagnostics where real mode is available (iacdemo.terraform.real)."""
    return lines(code)


def session_key(request: gr.Request | None) -> str:
    return (getattr(request, "session_hash", None) or "anonymous") + ":compare"


def load_tab_presets(ctx: AppContext) -> Presets:
    try:
        return load_presets(ctx.settings)
    except DataError as exc:
        return Presets(chat=[], doc=[], notes=[str(exc)])


def warm_schema(ctx: AppContext) -> None:
    """Start reading the provider schema in the background while the model generates (it takes seconds
    the first time, from the docs); `check_answers` later picks it up from memory."""
    def start() -> threading.Thread:
        thread = threading.Thread(target=lambda: _quietly(keep_schema_resident, ctx.settings),
                                  name="iacdemo-schema", daemon=True)
        thread.start()
        return thread

    ctx.service("hcl-schema-warm-up", start)


def _quietly(fn, *args) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - the foreground call reports it
        pass


def schema(ctx: AppContext):
    return load_schema(ctx.settings)


def build(ctx: AppContext) -> None:
    settings = ctx.settings
    presets = load_tab_presets(ctx)
    stops = StopSwitches()
    gr.HTML(f"<style>{highlight_css()}</style>", elem_id="compare-style")

    gr.Markdown("The same request to the base model and to your fine-tuned adapter, side by side, both "
                "from one batched generation on the one model in memory. Under each answer: does its "
                "Terraform parse, and does every resource type and argument exist in the AWS provider docs?",
                elem_classes=HIDE_IN_PRESENT)
    with gr.Row(elem_classes=PRESENT_ONLY, elem_id="compare-preset-buttons"):
        preset_buttons = [(gr.Button(button_label(p.title), size="sm", variant="secondary",
                                     elem_classes=["iac-preset-button"]), p.prompt) for p in presets.chat]
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            message = gr.Textbox(label="Your request", lines=3, max_lines=8, elem_id="compare-message",
                                 placeholder="e.g. Create a DynamoDB Contributor Insights resource for a table")
            with gr.Row():
                send_btn = gr.Button("Send", variant="primary", elem_id="compare-send")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="compare-stop")
                clear_btn = gr.Button("Clear", elem_id="compare-clear")
        with gr.Column(scale=2):
            preset = gr.Dropdown(choices=presets.chat_choices(), value=None, label="Preset prompts",
                                 info="The original experiment's task and IaC-Eval tasks",
                                 elem_id="compare-preset")
            with gr.Row(equal_height=True):
                adapter = gr.Dropdown(choices=adapter_choices(settings, ctx.model_id),
                                      value=default_adapter_choice(settings, ctx.model_id),
                                      label="Fine-tuned adapter (a training run)", scale=5, info=PIN_INFO,
                                      elem_id="compare-adapter")
                refresh_btn = gr.Button("↻", scale=0, min_width=50, elem_id="compare-refresh")
                pin_btn = gr.Button("Pin", scale=0, min_width=60, elem_id="compare-pin")
            rag = gr.Checkbox(label="+ retrieved docs (RAG)", value=False, elem_id="compare-rag",
                              info="A third pane: the base model with BM25-retrieved docs in its prompt")
    with gr.Accordion("System prompt and generation settings", open=False, elem_classes=HIDE_IN_PRESENT):
        system = gr.Textbox(label="System prompt", value=SYSTEM_PROMPT, lines=2, elem_id="compare-system")
        with gr.Row():
            controls = gen_controls(PRESET, settings, "compare",
                                    ["temperature", "top_p", "repetition_penalty"])
        with gr.Row():
            controls.update(gen_controls(PRESET, settings, "compare", ["max_new_tokens", "seed"]))
    errors = error_box("compare-error")
    status = gr.Markdown("", elem_id="compare-status")
    columns, chats, checks = [], [], []
    with gr.Row(equal_height=False, elem_id="compare-panes"):
        for i in range(MAX_PANES):
            with gr.Column(visible=i < 2, elem_id=f"compare-pane-{i}", elem_classes=["iac-pane"]) as column:
                chats.append(gr.Chatbot(label=INITIAL_LABELS[i], height=PANE_HEIGHT, elem_id=f"compare-chat-{i}",
                                        buttons=["copy"], feedback_options=None, layout="bubble"))
                checks.append(gr.HTML("", elem_id=f"compare-check-{i}"))
            columns.append(column)
    with gr.Accordion(f"Repair: each answer's problems fed back, up to {REPAIR_ROUNDS} rounds", open=False,
                      elem_id="compare-repair-box"):
        repair_btn = gr.Button("Repair these answers", elem_id="compare-repair")
        repair_view = gr.Markdown("", elem_id="compare-repair-rounds")
    with gr.Accordion("Record and replay (for talks)", open=False, elem_id="compare-recordings"):
        gr.Markdown("Record the last comparison to a JSON file, and replay any recording with its original "
                    "streaming timing, with no model needed.", elem_classes=HIDE_IN_PRESENT)
        with gr.Row(equal_height=True):
            record_btn = gr.Button("Record this comparison", elem_id="compare-record", scale=1)
            recordings = gr.Dropdown(choices=recording_choices(settings), label="Recording", scale=3,
                                     elem_id="compare-recording")
            speed = gr.Dropdown(choices=REPLAY_SPEEDS, value=1.0, label="Speed", scale=1, elem_id="compare-speed")
            replay_btn = gr.Button("Replay a recording", variant="primary", scale=1, elem_id="compare-replay")
        record_info = gr.Markdown("", elem_id="compare-record-info")
    conversation = gr.State(Conversation())
    adapter_picked = gr.State(False)  # has this visitor picked an adapter? (else it follows the best run)

    pane_outputs = [*columns, *chats, *checks]
    outputs = [errors, status, message, conversation, *pane_outputs]

    def frame(error=None, status_text=None, message_value=None, conv=None, visible=None, chat_values=None,
              check_values=None) -> list:
        """One update of every output; None leaves a component as it is."""
        def keep(value):
            return gr.update() if value is None else value

        return [keep(error), keep(status_text), keep(message_value), keep(conv),
                *[gr.update() if visible is None else gr.update(visible=v) for v in visible or [None] * MAX_PANES],
                *[gr.update() if chat_values is None or c is None else c
                  for c in (chat_values or [None] * MAX_PANES)],
                *[gr.update() if check_values is None or c is None else c
                  for c in (check_values or [None] * MAX_PANES)]]

    def failed(exc: BaseException) -> list:
        return frame(error=show_error(exc), status_text="")

    def panes(labels, values) -> list:
        return [gr.update(label=labels[i], value=values[i]) if i < len(labels) else gr.update(value=[])
                for i in range(MAX_PANES)]

    def on_send(text, system_prompt, adapter_choice, with_rag, temp, top, penalty, max_new, seed_value, conv,
                request: gr.Request, progress=gr.Progress()):
        try:
            gen = GenSettings.from_values(dict(zip(FORM_ORDER, (temp, top, penalty, max_new, seed_value))), PRESET,
                                          settings)
            if not isinstance(text, str) or not text.strip():
                raise ConfigError("The prompt is empty: type a request (or pick a preset) before sending.")
        except Exception as exc:  # noqa: BLE001 - shown to the user
            yield failed(exc)
            return
        warm_schema(ctx)
        if not ctx.model_loaded:
            yield frame(error=hide_error(), status_text=f"Loading `{ctx.model_id}` (first use, this takes a "
                                                        "moment)…")
        key = session_key(request)
        stop_event = stops.arm(key)
        try:
            session = ctx.model_session(progress=lambda f, m: progress(f, desc=m))
            adapter_name = attach_run_adapter(session, adapter_choice, settings)
            cols = default_columns(adapter_name, bool(with_rag))
            labels = [c.label for c in cols]
            conv = (conv or Conversation()).for_columns(labels)
            stream = stream_side_by_side(session, cols, text, gen, histories=conv.histories,
                                         system_prompt=system_prompt, settings=settings, stop_event=stop_event)
        except Exception as exc:  # noqa: BLE001
            stops.release(key, stop_event)
            yield failed(exc)
            return
        recorder = Recorder(labels, prompt=text, settings=recording_settings(
            gen, system_prompt=system_prompt, adapter_run=None if adapter_choice == NO_ADAPTER else adapter_choice,
            rag=bool(with_rag), model_id=session.model_id, seed=stream.seed))
        visible = [i < len(cols) for i in range(MAX_PANES)]
        texts = list(stream.texts)
        yield frame(error=hide_error(), status_text="Generating…", message_value="", visible=visible,
                    chat_values=panes(labels, [pane_messages(h, text, t) for h, t in zip(conv.histories, texts)]),
                    check_values=[PENDING_CHECK_HTML] * MAX_PANES)
        try:
            for texts in recorder.wrap(stream):
                yield frame(chat_values=[pane_messages(h, text, t) for h, t in zip(conv.histories, texts)]
                            + [None] * (MAX_PANES - len(texts)))
        except Exception as exc:  # noqa: BLE001 - keep what streamed so far on screen
            yield failed(exc)
            return
        finally:
            stops.release(key, stop_event)
        try:
            results = check_answers(texts, schema(ctx))
            terraform = [terraform_lines(r.code) if r.parses else [] for r in results]
            check_values = [check_html(r, column_notes(stream.notes, label), tf)
                            for r, label, tf in zip(results, labels, terraform)]
        except Exception as exc:  # noqa: BLE001 - the answers stay; only the checks are missing
            check_values = [f'<div class="iac-check">Checks unavailable: {exc}</div>'] * len(labels)
        histories = [h + [{"role": "user", "content": text}, {"role": "assistant", "content": t}]
                     for h, t in zip(conv.histories, texts)]
        new_conv = Conversation(labels=labels, histories=histories, recording=recorder.recording)
        notes = general_notes(stream.notes, labels)
        summary = stats_line(stream) + "".join(f"\n\n{note}" for note in notes)
        yield frame(status_text=summary, conv=new_conv,
                    check_values=check_values + [""] * (MAX_PANES - len(labels)))

    def on_stop(request: gr.Request):
        stops.stop(session_key(request))

    def on_clear(request: gr.Request):
        stops.stop(session_key(request))
        return frame(error=hide_error(), status_text="", message_value="", conv=Conversation(),
                     chat_values=[[] for _ in range(MAX_PANES)], check_values=[""] * MAX_PANES)

    def on_replay(choice, replay_speed, request: gr.Request):
        try:
            recording = load_recording(choice, settings)
            speed_value = float(replay_speed or 1.0)
            if speed_value <= 0:
                raise ConfigError("Replay speed must be positive.")
        except Exception as exc:  # noqa: BLE001
            yield failed(exc)
            return
        labels, prompt = recording.columns, recording.prompt
        key = session_key(request)
        stop_event = stops.arm(key)
        visible = [i < len(labels) for i in range(MAX_PANES)]
        texts = [""] * len(labels)
        yield frame(error=hide_error(), status_text=describe_recording(recording), visible=visible,
                    chat_values=panes(labels, [pane_messages([], prompt, "") for _ in labels]),
                    check_values=[PENDING_CHECK_HTML] * MAX_PANES)
        try:
            for texts in replay(recording, speed_value):
                if stop_event.is_set():
                    break
                yield frame(chat_values=[pane_messages([], prompt, t) for t in texts]
                            + [None] * (MAX_PANES - len(texts)))
        finally:
            stops.release(key, stop_event)
        try:
            results = check_answers(texts, schema(ctx))
            check_values = [check_html(r) for r in results]
        except Exception as exc:  # noqa: BLE001
            check_values = [f'<div class="iac-check">Checks unavailable: {exc}</div>'] * len(labels)
        histories = [[{"role": "user", "content": prompt}, {"role": "assistant", "content": t}] for t in texts]
        yield frame(status_text=describe_recording(recording).replace("Replaying", "Replayed")
                    + (" Stopped." if stop_event.is_set() else ""),
                    conv=Conversation(labels=list(labels), histories=histories, recording=recording),
                    check_values=check_values + [""] * (MAX_PANES - len(labels)))

    def on_repair(conv, system_prompt, adapter_choice, temp, top, penalty, max_new, seed_value,
                  request: gr.Request):
        """The last answers' diagnostics fed back to each pane's own model, every round shown."""
        key = session_key(request)
        stop_event = stops.arm(key)
        try:
            gen = GenSettings.from_values(dict(zip(FORM_ORDER, (temp, top, penalty, max_new, seed_value))), PRESET,
                                          settings)
            conv = conv or Conversation()
            session = ctx.model_session()
            cols = default_columns(attach_run_adapter(session, adapter_choice, settings), rag=True)
            cols = [c for label in conv.labels for c in cols if c.label == label]
            diagnose = default_diagnostics(schema(ctx), resolve_mode("auto", settings))
            panes = repair_panes(session, cols, conv.histories, gen, diagnose=diagnose, rounds=REPAIR_ROUNDS,
                                 system_prompt=system_prompt, settings=settings, stop_event=stop_event)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            return show_error(exc), gr.update()
        finally:
            stops.release(key, stop_event)
        return hide_error(), rounds_markdown(conv.labels, panes, REPAIR_ROUNDS)

    def on_record(conv):
        try:
            path = save_recording(getattr(conv, "recording", None), settings)
        except Exception as exc:  # noqa: BLE001
            return show_error(exc), gr.update(), gr.update()
        return (hide_error(), f"Saved `{path}`. Pick it under **Recording** to replay it.",
                gr.update(choices=recording_choices(settings), value=str(path)))

    def refresh_adapters(current, was_picked):
        choices, value = refreshed_adapter_choices(current, settings, picked=bool(was_picked),
                                                   model_id=ctx.model_id)
        adapter_update = gr.update(choices=choices) if value is None else gr.update(choices=choices, value=value)
        return adapter_update, gr.update(choices=recording_choices(settings))

    send_inputs = [message, system, adapter, rag, *(controls[name] for name in FORM_ORDER), conversation]
    send_args = dict(fn=on_send, inputs=send_inputs, outputs=outputs, concurrency_limit=4,
                     concurrency_id="model-generation", api_visibility="private", show_progress="minimal")
    send_btn.click(**send_args)
    message.submit(**send_args)
    for button, prompt in preset_buttons:
        button.click(lambda p=prompt: p, outputs=message, api_visibility="private", queue=False).then(**send_args)
    stop_btn.click(on_stop, queue=False, api_visibility="private")
    clear_btn.click(on_clear, outputs=outputs, queue=False, api_visibility="private")
    for chat in chats:  # a pane's own trash button clears the whole comparison, or the panes would disagree
        chat.clear(on_clear, outputs=outputs, queue=False, api_visibility="private")
    preset.change(lambda p: gr.update() if not p else p, inputs=preset, outputs=message, queue=False,
                  api_visibility="private")
    replay_btn.click(on_replay, inputs=[recordings, speed], outputs=outputs, concurrency_limit=4,
                     concurrency_id="replay", api_visibility="private", show_progress="minimal")
    repair_btn.click(on_repair, inputs=[conversation, system, adapter, *(controls[name] for name in FORM_ORDER)],
                     outputs=[errors, repair_view], concurrency_limit=4, concurrency_id="model-generation",
                     api_visibility="private", show_progress="minimal")
    record_btn.click(on_record, inputs=conversation, outputs=[errors, record_info, recordings],
                     api_visibility="private")
    refresh_btn.click(refresh_adapters, inputs=[adapter, adapter_picked], outputs=[adapter, recordings], queue=False,
                      api_visibility="private", show_progress="hidden")
    adapter.input(lambda: True, outputs=adapter_picked, queue=False, api_visibility="private", show_progress="hidden")
    pin_btn.click(lambda choice: pin_message(choice, settings, ctx.model_id), inputs=adapter,
                  outputs=[errors, status, adapter],
                  queue=False, api_visibility="private", show_progress="hidden")
    _on_tab_select(refresh_adapters, inputs=[adapter, adapter_picked], outputs=[adapter, recordings])


def pin_message(choice: str | None, settings, model_id: str | None = None) -> tuple:
    """(error box, status, adapter list) after pinning the picked run as the default adapter."""
    try:
        name = pin_run(choice, settings)
    except Exception as exc:  # noqa: BLE001 - shown to the user
        return show_error(exc), gr.update(), gr.update()
    text = (f"Pinned: `{name}` is now the default adapter, for every visitor and after a restart." if name
            else "No run is pinned: the most trained finished run is the default adapter.")
    if name and default_adapter_choice(settings, model_id) != name:
        text = (f"Pinned: `{name}`, for every visitor and after a restart. It was trained on another base model "
                f"than the loaded `{model_id}`, so it becomes the default adapter once its own model is loaded.")
    return hide_error(), text, gr.update(choices=adapter_choices(settings, model_id))


def _on_tab_select(fn: Any, inputs: Any, outputs: Any) -> None:
    """Refresh lists when the visitor opens this tab: runs finish while the app is up."""
    tab = Context.block
    if isinstance(tab, gr.Tab):
        tab.select(fn, inputs=inputs, outputs=outputs, queue=False, api_visibility="private",
                   show_progress="hidden")
