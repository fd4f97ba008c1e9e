"""iacdemo: the app's entry point, locally (`python app.py`) and on a Hugging Face Space.

Command-line flags override the settings (which read the environment, e.g. GRADIO_SERVER_PORT and
SPACE_ID); this file reads no environment variable itself.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from iacdemo.errors import ConfigError
from iacdemo.settings import Settings, get_settings
from iacdemo.ui import build_app, launch_kwargs
from iacdemo.ui.queue_polling import enable_queue


def parse_args(argv: list[str] | None, defaults: Settings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="app.py",
        description="iacdemo: teach small LLMs Terraform HCL (LoRA continued pre-training on the docs), "
                    "compare base vs tuned, evaluate on IaC-Eval.",
        epilog="Every flag defaults to the settings, which read IACDEMO_DATA_DIR, IACDEMO_RUNS_DIR, "
               "IACDEMO_CACHE_DIR, IACDEMO_MODEL, IACDEMO_DEVICE, GRADIO_SERVER_NAME, GRADIO_SERVER_PORT, "
               "SPACE_ID and HF_HUB_OFFLINE.",
    )
    parser.add_argument("--host", default=defaults.host,
                        help=f"interface to listen on (GRADIO_SERVER_NAME; default {defaults.host})")
    parser.add_argument("--port", type=int, default=defaults.port,
                        help=f"port to listen on (GRADIO_SERVER_PORT; default {defaults.port})")
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    parser.add_argument("--model", default=defaults.default_model,
                        help="model to start with: registry id, local model folder or Hub id "
                             f"(IACDEMO_MODEL; default {defaults.default_model})")
    parser.add_argument("--data-dir", type=Path, default=defaults.data_dir,
                        help=f"docs and IaC-Eval data (IACDEMO_DATA_DIR; default {defaults.data_dir})")
    parser.add_argument("--runs-dir", type=Path, default=defaults.runs_dir,
                        help=f"training runs and adapters (IACDEMO_RUNS_DIR; default {defaults.runs_dir})")
    parser.add_argument("--cache-dir", type=Path, default=defaults.cache_dir,
                        help="converted models, built datasets, evaluation results "
                             f"(IACDEMO_CACHE_DIR; default {defaults.cache_dir})")
    return parser.parse_args(argv)


def settings_from_args(args: argparse.Namespace, defaults: Settings) -> Settings:
    return defaults.with_overrides(host=args.host, port=args.port, default_model=args.model,
                                   data_dir=args.data_dir.expanduser(), runs_dir=args.runs_dir.expanduser(),
                                   cache_dir=args.cache_dir.expanduser())


def main(argv: list[str] | None = None) -> int | None:
    started = time.perf_counter()
    try:
        defaults = get_settings()
    except ConfigError as exc:  # a mistyped IACDEMO_* variable: say which, as the command-line tools do
        print(f"app.py: error: {exc}", file=sys.stderr)
        return 2
    args = parse_args(argv, defaults)
    settings = settings_from_args(args, defaults)

    demo = build_app(settings)
    print(f"iacdemo: UI built in {time.perf_counter() - started:.1f} s; data {settings.data_dir}, "
          f"runs {settings.runs_dir}, cache {settings.cache_dir}, model {settings.default_model}", flush=True)
    note = enable_queue(demo, settings)
    if note:
        print(note, flush=True)
    demo.launch(server_name=settings.host, server_port=settings.port, share=args.share, **launch_kwargs(settings))


if __name__ == "__main__":
    sys.exit(main())
