"""No file on disk stops the app: every reader survives any bytes and any JSON shape.

Each case corrupts one file the way a crash, a disk error or a hand edit would. Before, 12 of these 17
stopped `python app.py` at start-up (UnicodeDecodeError, AttributeError, TypeError in a runs reader).
Now the run is listed (as "unreadable" with the reason where nothing can be read), the other runs stay
listed, and the app builds.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from iacdemo.corpus.build import load_corpus
from iacdemo.corpus.catalog import list_corpora
from iacdemo.errors import DataError
from iacdemo.generation.recording import Recording
from iacdemo.training import runs
from iacdemo.training.runner import JobRunner
from iacdemo.ui import compare_views
from iacdemo.ui.tabs import data_tab, evaluate_tab
from iacdemo.ui import train_controller
from iacdemo.ui.train_views import run_choices, runs_frame

GOOD_STATUS = {"status": "finished", "step": 3, "total_steps": 3, "created": 1.0, "started": 1.0, "finished": 5.0}
GOOD_ROW = {"step": 1, "loss": 2.5, "elapsed_s": 1.0}

# (file, bytes written) — appended for metrics.jsonl, replacing the file otherwise
CORRUPTIONS = [
    ("metrics.jsonl", b"\xff\n"),
    ("metrics.jsonl", b"[1, 2]\n"),
    ("metrics.jsonl", b'{"step": 2, "loss": "abc", "elapsed_s": 2}\n'),
    ("metrics.jsonl", b'{"step": "two", "loss": 1.0}\n'),
    ("metrics.jsonl", b'{"step": 2, "loss": NaN, "elapsed_s": [1]}\n'),
    ("metrics.jsonl", b"[" * 100000 + b"\n"),
    ("status.json", b"\xff"),
    ("status.json", b"[]"),
    ("status.json", b"null"),
    ("status.json", b'{"step": "abc"}'),
    ("status.json", b'{"status": 5, "total_steps": {"a": 1}, "created": "yesterday", "error": [1]}'),
    ("status.json", b'{"status": "running", "pid": "abc", "launcher_pid": -5}'),
    ("status.json", b'{"step": 1e400, "elapsed_s": "long", "started": true}'),
    ("config.json", b"\xff"),
    ("config.json", b"[]"),
    ("config.json", b'{"model": 5, "dataset": ["x"], "max_steps": "many"}'),
    ("adapter/iacdemo_adapter.json", b"[]"),
]


def _good_run(root: Path, name: str) -> Path:
    run_dir = root / name
    (run_dir / "adapter").mkdir(parents=True)
    (run_dir / "status.json").write_text(json.dumps({**GOOD_STATUS, "created": time.time()}))
    (run_dir / "config.json").write_text(json.dumps({"model": "m", "dataset": "d", "max_steps": 3}))
    (run_dir / "metrics.jsonl").write_text(json.dumps(GOOD_ROW) + "\n")
    (run_dir / "adapter" / "adapter_config.json").write_text('{"peft_type": "LORA"}')
    return run_dir


def _corrupt(run_dir: Path, file: str, data: bytes) -> None:
    path = run_dir / file
    path.parent.mkdir(parents=True, exist_ok=True)
    if file == "metrics.jsonl":
        with open(path, "ab") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)


@pytest.fixture()
def local(settings, tmp_path):
    return settings.with_overrides(runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("file, data", CORRUPTIONS, ids=[f"{f}:{d[:20]!r}" for f, d in CORRUPTIONS])
def test_one_corrupt_run_file_never_breaks_a_list(local, file, data):
    _good_run(local.runs_dir, "fine")
    broken = _good_run(local.runs_dir, "broken")
    _corrupt(broken, file, data)

    infos = {info.name: info for info in runs.list_runs(local)}
    assert set(infos) == {"fine", "broken"}
    info = infos["broken"]
    assert isinstance(info.step, int) and isinstance(info.total_steps, int)
    assert info.final_loss is None or isinstance(info.final_loss, float)
    if file in ("status.json", "config.json") and data in (b"\xff", b"[]", b"null"):
        assert info.error.startswith(f"unreadable: {file} is not")  # the reason, shown in the runs list
        assert info.status == ("unreadable" if file == "status.json" else "finished")
    runs_frame(infos.values())
    run_choices(infos.values())
    assert all(isinstance(r["step"], int) and isinstance(r["elapsed_s"], float) for r in runs.read_metrics(broken))
    assert runs.loss_curves(runs.read_metrics(broken))["train"][0] == (1, 2.5)
    snap = JobRunner(local).poll("broken")
    snap.summary()
    assert isinstance(snap.step, int) and not snap.running
    compare_views.adapter_choices(local)
    evaluate_tab.adapter_choices(local)
    compare_views.training_pages(infos["broken"])


DATASET_CORRUPTIONS = [b"\xff", b"[]", b'{"rows": "abc", "tokens": [], "filters": []}', b'{"filters": {"services": 5}}']


@pytest.mark.parametrize("data", DATASET_CORRUPTIONS)
def test_a_corrupt_dataset_stats_file_lists_as_no_stats(local, data):
    good = local.datasets_dir / "good"
    good.mkdir(parents=True)
    (good / "state.json").write_text("{}")
    (good / "stats.json").write_text(json.dumps({"rows": 3, "tokens": 30, "filters": {"services": ["S3"]}}))
    bad = local.datasets_dir / "bad"
    bad.mkdir()
    (bad / "state.json").write_text("{}")
    (bad / "stats.json").write_bytes(data)
    corpora = {c.name: c for c in list_corpora(local.datasets_dir)}
    assert corpora["good"].label.startswith("good: 3 rows")
    assert corpora["bad"].label == "bad (no stats)" or corpora["bad"].rows is None or "bad" in corpora["bad"].label
    data_tab.corpus_choices(local)
    train_controller.dataset_choices(local)
    (bad / "state.json").write_bytes(b"\xff\xfe")  # the datasets library's own files: a DataError, not a crash
    with pytest.raises(DataError, match="Cannot read the dataset|No corpus"):
        load_corpus(bad)


@pytest.mark.parametrize("data", [b"\xff", b"[]", b'{"columns": "ab", "ticks": [[0, ["x", "y"]]], "settings": 5}',
                                  b'{"columns": ["a"], "ticks": [["soon", ["x"]]]}',
                                  b'{"columns": ["a"], "ticks": [[1e400, ["x"]]]}', b"[" * 100000])
def test_a_corrupt_recording_is_a_data_error(tmp_path, data):
    path = tmp_path / "rec.json"
    path.write_bytes(data)
    with pytest.raises(DataError, match="not a side-by-side recording|different number of columns"):
        Recording.load(path)


def test_the_app_starts_with_every_corruption_at_once(local):
    from iacdemo.ui import build_app

    _good_run(local.runs_dir, "fine")
    for i, (file, data) in enumerate(CORRUPTIONS):
        _corrupt(_good_run(local.runs_dir, f"broken-{i}"), file, data)
    (local.runs_dir / ".job.lock").write_bytes(b"\xff[")
    stats_dir = local.datasets_dir / "bad"
    stats_dir.mkdir(parents=True)
    (stats_dir / "state.json").write_text("{}")
    (stats_dir / "stats.json").write_bytes(b"\xff")
    demo = build_app(local)
    assert demo is not None
    assert len(runs.list_runs(local)) == len(CORRUPTIONS) + 1
    assert JobRunner(local).active_run() is None
