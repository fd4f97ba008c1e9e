"""The app shell without a browser: CLI, app builder, header, presentation hooks, Models tab, context."""
from __future__ import annotations

import threading

import gradio as gr
import pytest

import app
from iacdemo.errors import ConfigError, DataError
from iacdemo.models import MODELS
from iacdemo.safe_paths import check_name, resolve_inside
from iacdemo.settings import settings_from_env
from iacdemo.ui.app_builder import TABS
from iacdemo.ui import AppContext, build_app, launch_kwargs
from iacdemo.ui.header import header_html
from iacdemo.ui.presentation import PRESENT_CLASS, present_js
from iacdemo.ui.queue_polling import CONCURRENCY_LIMIT, enable_queue
from iacdemo.ui.tabs import models_tab


def test_cli_overrides_settings_and_port_comes_from_settings(tmp_path):
    defaults = settings_from_env({"GRADIO_SERVER_PORT": "9123"})
    args = app.parse_args([], defaults)
    assert app.settings_from_args(args, defaults).port == 9123
    args = app.parse_args(["--port", "8001", "--host", "0.0.0.0", "--model", "qwen2.5-coder-0.5b-instruct",
                           "--runs-dir", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c"),
                           "--data-dir", str(tmp_path / "d")], defaults)
    s = app.settings_from_args(args, defaults)
    assert (s.port, s.host, s.default_model) == (8001, "0.0.0.0", "qwen2.5-coder-0.5b-instruct")
    assert (s.runs_dir, s.cache_dir, s.data_dir) == (tmp_path / "r", tmp_path / "c", tmp_path / "d")


def test_a_mistyped_setting_stops_the_app_with_one_clear_line(monkeypatch, capsys):
    from iacdemo.settings import get_settings

    monkeypatch.setenv("IACDEMO_PERPLEXITY_TOKENS", "lots")
    get_settings.cache_clear()
    try:
        assert app.main([]) == 2
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert err == "app.py: error: IACDEMO_PERPLEXITY_TOKENS must be a whole number, got 'lots'.\n", err


def test_help_documents_every_flag(capsys):
    with pytest.raises(SystemExit):
        app.parse_args(["--help"], settings_from_env({}))
    text = capsys.readouterr().out
    for flag in ("--host", "--port", "--share", "--model", "--data-dir", "--runs-dir", "--cache-dir",
                 "GRADIO_SERVER_PORT"):
        assert flag in text


def test_build_app_has_the_tabs_and_launch_kwargs(settings):
    demo = build_app(settings)
    assert isinstance(demo, gr.Blocks)
    tabs = [b for b in demo.blocks.values() if isinstance(b, gr.Tab)]
    assert [t.label for t in tabs] == [tab.TITLE for tab in TABS]
    assert {"Data", "Train", "Models"} <= {t.label for t in tabs}
    assert isinstance(demo.iacdemo_context, AppContext) and demo.iacdemo_context.settings is settings
    kwargs = launch_kwargs(settings)
    assert set(kwargs) == {"theme", "css", "js", "max_file_size"}
    assert f"body.{PRESENT_CLASS}" in kwargs["css"]
    assert PRESENT_CLASS in kwargs["js"] and "mode" in kwargs["js"] and kwargs["js"] == present_js()


def test_the_queue_polls_at_the_settings_interval(settings):
    demo = build_app(settings.with_overrides(queue_poll_s=0.2))
    assert enable_queue(demo, demo.iacdemo_context.settings) is None
    queue = demo._queue
    assert (queue.sleep_when_free, queue.progress_update_sleep_when_free) == (0.2, 0.2)
    assert queue.default_concurrency_limit == CONCURRENCY_LIMIT


def test_a_gradio_that_renamed_its_polling_keeps_it_and_the_app_says_so(settings, monkeypatch):
    from types import SimpleNamespace

    from iacdemo.ui import queue_polling

    demo = build_app(settings)
    renamed = SimpleNamespace(sleep_when_free=0.001, progress_interval=0.01)
    monkeypatch.setattr(demo, "queue", lambda **kwargs: setattr(demo, "_queue", renamed))
    note = queue_polling.enable_queue(demo, settings)
    assert "IACDEMO_QUEUE_POLL_S has no effect" in note and gr.__version__ in note
    assert renamed.sleep_when_free == 0.001  # left as it was


def test_header_shows_device_model_memory(settings):
    ctx = AppContext(settings)
    html = header_html(ctx)
    for test_id in ("header-device", "header-model", "header-memory"):
        assert f'data-testid="{test_id}"' in html
    assert settings.default_model in html and "cpu" in html and "GiB" in html
    assert "Duplicate this Space" not in html


def test_header_on_a_space_says_so_and_survives_a_bad_device(settings):
    space = AppContext(settings.with_overrides(space_id="someone/iacdemo"))
    html = header_html(space)
    assert "Duplicate this Space" in html and "someone/iacdemo?duplicate=true" in html
    broken = AppContext(settings.with_overrides(device="tpu"))
    assert "error: Unknown device" in header_html(broken)


def test_models_table_lists_registry_and_flags_the_repack(settings):
    table = models_tab.registry_table(settings)
    assert list(table["ID"]) == list(MODELS)
    flagged = table[table["Provenance"].str.contains("UNCLEAR")]
    assert list(flagged["ID"]) == ["qwen2.5-coder-0.5b-instruct"]
    assert "qwen2.5-coder-0.5b-instruct" in models_tab.provenance_warning_md()
    default = table[table["ID"] == "smollm2-135m-instruct"].iloc[0]
    assert default["License"] == "Apache-2.0" and default["Source"] == "pypi-gguf"


def test_context_creates_shared_services_once(settings):
    ctx = AppContext(settings)
    calls = []

    def factory():
        calls.append(1)
        return object()

    results = []
    threads = [threading.Thread(target=lambda: results.append(ctx.service("x", factory))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(r) for r in results}) == 1


def test_switching_to_an_unknown_model_keeps_the_current_one(settings):
    ctx = AppContext(settings)
    with pytest.raises(Exception, match="Unknown model"):
        ctx.switch_model("no-such-model")
    assert ctx.model_id == settings.default_model and not ctx.model_loaded


def test_names_and_paths_stay_inside(tmp_path):
    assert check_name("run-1") == "run-1"
    for bad in ("../x", "x/y", "a\\b", "..hidden"):
        with pytest.raises(ConfigError):
            check_name(bad)
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "escape").symlink_to(tmp_path)
    assert resolve_inside("sub", [root]) == (root / "sub").resolve()
    for bad in ("..", "escape", "/etc", "sub/../../"):
        with pytest.raises(DataError):
            resolve_inside(bad, [root])
    with pytest.raises(DataError, match="does not exist"):
        resolve_inside("missing", [root])


def test_error_messages_survive_markdown():
    from iacdemo.ui.feedback import escape_markdown

    assert escape_markdown("name 'a\\b_c' *x*") == "name 'a\\\\b\\_c' \\*x\\*"
    assert escape_markdown("run `python -m train.build_corpus` now") == "run `python -m train.build_corpus` now"
