"""Record/replay of side-by-side sessions (presentation mode's safety net)."""
import json

import pytest

from iacdemo.errors import DataError
from iacdemo.generation.recording import Recorder, Recording, replay


def _stream():
    yield ["res", ""]
    yield ["resource", "# Res"]
    yield ["resource \"aws_s3_bucket\"", "# Resource: aws_s3"]
    yield ["resource \"aws_s3_bucket\"", "rewritten"]  # a column that changed, not grew


def test_round_trip_preserves_every_tick(tmp_path):
    rec = Recorder(["base", "tuned"], prompt="p", settings={"seed": 1})
    live = list(rec.wrap(_stream()))
    path = rec.recording.save(tmp_path / "talk.json")
    loaded = Recording.load(path)
    assert loaded.columns == ["base", "tuned"] and loaded.settings == {"seed": 1}
    slept = []
    replayed = list(replay(loaded, speed=2.0, sleep=slept.append))
    assert replayed == live
    assert loaded.final_texts() == live[-1]
    assert all(0 <= s <= 2.0 for s in slept)


def test_bad_recordings_are_rejected(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError):
        Recording.load(bad)
    bad.write_text(json.dumps({"columns": ["a", "b"], "ticks": [[0.1, ["x"]]]}))
    with pytest.raises(DataError, match="number of columns"):
        Recording.load(bad)
    with pytest.raises(DataError):
        list(replay(Recording(columns=["a"]), speed=0))
