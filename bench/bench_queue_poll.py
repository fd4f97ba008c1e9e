"""Gradio's queue polling: what an idle app costs, and how fast the Compare tab generates beside it.

    python -m bench.bench_queue_poll [--new-tokens 40] [--repeats 3] [--idle-s 10]

The real app (`build_app` + `enable_queue`, launched on a free port in this process, as `app.py` does) is
measured with its queue polling at Gradio's own Linux intervals (1 ms when free, 10 ms for progress) and
at the app's (`Settings.queue_poll_s`), alternating A, B, A, B... so that background load hits both alike:

- idle: CPU seconds of the whole process (every thread) per wall second, nobody connected;
- generation: tokens/s of the Compare tab's side-by-side stream (base + an adapter, one batch of 2) run
  in this process while the app's event loop polls, as a request's worker thread runs it in the app.

Ratios are of medians measured in this one run. Without a trained run the adapter is synthetic (the
training defaults' shape), as in bench_side_by_side.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bench_side_by_side import PROMPT, find_adapter, make_synthetic_adapter  # noqa: E402

GRADIO_LINUX = {"sleep_when_free": 0.001, "progress_update_sleep_when_free": 0.01}


def set_polling(queue, values: dict[str, float]) -> None:
    for name, value in values.items():
        setattr(queue, name, value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--new-tokens", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--idle-s", type=float, default=10.0, help="seconds of each idle measurement")
    parser.add_argument("--adapter", default=None, help="LoRA adapter folder (default: newest run, else synthetic)")
    args = parser.parse_args(argv)

    from iacdemo.generation import GenSettings, ModelSession, default_columns, stream_side_by_side
    from iacdemo.settings import get_settings
    from iacdemo.ui import build_app, launch_kwargs
    from iacdemo.ui.queue_polling import POLL_ATTRIBUTES, enable_queue

    settings = get_settings()
    demo = build_app(settings)
    note = enable_queue(demo, settings)
    if note:
        print(note)
        return 1
    ours = {name: getattr(demo._queue, name) for name in POLL_ATTRIBUTES}
    modes = {"gradio": GRADIO_LINUX, "iacdemo": ours}
    # no port given: gradio takes the first free one from 7860 up
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, **launch_kwargs(settings))
    time.sleep(2)  # the queue's loops start with the server: let them settle before measuring
    try:
        idle: dict[str, list[float]] = {mode: [] for mode in modes}
        for _ in range(2):
            for mode, values in modes.items():
                set_polling(demo._queue, values)
                time.sleep(0.5)
                cpu, wall = time.process_time(), time.perf_counter()
                time.sleep(args.idle_s)
                idle[mode].append((time.process_time() - cpu) / (time.perf_counter() - wall))

        with tempfile.TemporaryDirectory(prefix="bench-poll-") as tmp:
            adapter, adapter_kind = find_adapter(args.adapter)
            if adapter is None:
                adapter = Path(tmp) / "synthetic-adapter"
                make_synthetic_adapter(None, adapter)
            session = ModelSession.load(None)
            columns = default_columns(session.attach_adapter(adapter, name="tuned"))
        for _ in stream_side_by_side(session, columns, PROMPT, GenSettings(max_new_tokens=4)):
            pass  # warm-up
        gen = GenSettings(max_new_tokens=args.new_tokens)
        speed: dict[str, list[float]] = {mode: [] for mode in modes}
        for _ in range(args.repeats):
            for mode, values in modes.items():
                set_polling(demo._queue, values)
                stream = stream_side_by_side(session, columns, PROMPT, gen)
                began = time.perf_counter()
                for _ in stream:
                    pass
                speed[mode].append(sum(stream.stats.new_tokens) / (time.perf_counter() - began))
    finally:
        demo.close()

    import torch

    med_idle = {mode: statistics.median(v) for mode, v in idle.items()}
    med_speed = {mode: statistics.median(v) for mode, v in speed.items()}
    paired = [b / a for a, b in zip(speed["gradio"], speed["iacdemo"])]
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "torch_threads": torch.get_num_threads(),
        "polling": modes,
        "adapter": adapter_kind,
        "idle_cores": {mode: [round(x, 4) for x in v] for mode, v in idle.items()},
        "tokens_per_s": {mode: [round(x, 2) for x in v] for mode, v in speed.items()},
        "paired_speedups": [round(x, 3) for x in paired],
    }
    print(json.dumps(results, indent=2))
    print(f"\nidle app: {med_idle['gradio']:.3f} cores at gradio's polling vs {med_idle['iacdemo']:.3f} at iacdemo's "
          f"({ours['sleep_when_free'] * 1000:.0f} ms)")
    print(f"side-by-side generation: {med_speed['gradio']:.2f} vs {med_speed['iacdemo']:.2f} tokens/s (medians); "
          f"median paired speedup {statistics.median(paired):.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
