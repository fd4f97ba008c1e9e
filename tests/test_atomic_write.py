"""The one atomic writer: a reader sees the old file or the whole new one, a failed write leaves nothing
behind, and threads of one process writing the same file cannot mix their bytes."""
from __future__ import annotations

import json
import stat
import threading

import pytest

from iacdemo import atomic_write


def test_a_write_that_fails_midway_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "status.json"
    atomic_write.write_json(target, {"status": "running"})
    with pytest.raises(TypeError):  # json.dump fails after it has started writing
        atomic_write.write_json(target, {"status": "finished", "bad": object()})
    assert json.loads(target.read_text()) == {"status": "running"}
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_written_files_are_readable_by_others_like_a_plain_write(tmp_path):
    target = tmp_path / "cache.bin"
    with atomic_write.atomic_file(target, binary=True) as fh:
        fh.write(b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert stat.S_IMODE(target.stat().st_mode) == atomic_write.FILE_MODE


def test_threads_writing_one_file_never_leave_a_mixed_or_half_file(tmp_path):
    """The old writers named their temporary `<file>.tmp<pid>`: two threads shared it and could interleave."""
    target = tmp_path / "run.lock"
    payloads = [{"writer": n, "pad": str(n) * 50_000} for n in range(4)]
    seen_bad: list[str] = []
    stop = threading.Event()

    def write(payload: dict) -> None:
        try:
            for _ in range(30):
                atomic_write.write_json(target, payload)
        except OSError as exc:  # the old writers: another thread had already renamed the shared temporary
            seen_bad.append(f"writer {payload['writer']}: {exc}")

    def read() -> None:
        while not stop.is_set():
            try:
                data = json.loads(target.read_text())
            except FileNotFoundError:
                continue
            except ValueError as exc:
                seen_bad.append(str(exc))
                continue
            if data not in payloads:
                seen_bad.append(f"mixed content from writer {data.get('writer')}")

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    reader.join()
    assert not seen_bad
    assert json.loads(target.read_text()) in payloads
    assert [p.name for p in tmp_path.iterdir()] == ["run.lock"]
