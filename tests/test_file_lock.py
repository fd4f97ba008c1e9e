"""The cache lock must hold across processes (the app, a training job and a second app share caches)
and must never outlive a killed holder."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from iacdemo.file_lock import exclusive

_HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from iacdemo.file_lock import exclusive
    lock, log, hold = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
    with exclusive(lock) as locked:
        with log.open("a") as f:
            f.write(f"start {locked}\\n")
        print("holding", flush=True)
        time.sleep(hold)
        with log.open("a") as f:
            f.write("end\\n")
""")


def _start_holder(tmp_path: Path, hold: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path / "x"), str(tmp_path / "log"),
                             str(hold)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1])
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_a_second_process_waits_for_the_first(tmp_path):
    first = _start_holder(tmp_path, hold=1.0)
    t0 = time.monotonic()
    with exclusive(tmp_path / "x") as locked:
        waited = time.monotonic() - t0
        assert locked
        log = (tmp_path / "log").read_text().splitlines()
    first.wait(timeout=30)
    assert log == ["start True", "end"], "entered while another process held the lock"
    assert waited > 0.3


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    holder = _start_holder(tmp_path, hold=60)
    holder.kill()
    holder.wait(timeout=30)
    t0 = time.monotonic()
    with exclusive(tmp_path / "x") as locked:
        assert locked
    assert time.monotonic() - t0 < 5
    assert (tmp_path / "log").read_text().splitlines() == ["start True"]


def test_the_lock_file_lies_beside_the_folder_not_in_it(tmp_path):
    with exclusive(tmp_path / "model"):
        assert (tmp_path / "model.lock").is_file() and not (tmp_path / "model").exists()


def test_threads_of_one_process_take_turns(tmp_path):
    inside, overlaps = [], []

    def work():
        for _ in range(20):
            with exclusive(tmp_path / "x"):
                inside.append(1)
                if len(inside) > 1:
                    overlaps.append(1)
                time.sleep(0.001)
                inside.pop()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not overlaps
