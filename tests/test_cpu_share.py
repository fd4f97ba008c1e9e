"""A training job steps aside for the app's generation: lower priority for its whole session, fewer threads
while the app uses its model (iacdemo/training/cpu_share.py; speeds in bench/RESULTS.md)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from iacdemo.training.cpu_share import TrainerCpuShare, app_is_using_model, app_using_model, lower_session_priority

AUTOGROUP = Path("/proc/self/autogroup")


@pytest.mark.skipif(not AUTOGROUP.exists(), reason="this kernel has no autogroup scheduling (/proc/self/autogroup)")
def test_the_runner_lowers_the_jobs_own_session_and_nothing_else(tmp_path):
    # With autogroup scheduling, os.nice alone does not make a job in its own session yield to the app at
    # all; the session's nice value does. Only a session the runner made is touched.
    ours = AUTOGROUP.read_text()
    job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        assert lower_session_priority(job.pid, 7)
        assert Path(f"/proc/{job.pid}/autogroup").read_text().split()[-1] == "7"
        assert AUTOGROUP.read_text() == ours
    finally:
        job.kill()
        job.wait()
    # the job's own side (os.nice) never renices the session it was started from, e.g. a user's terminal
    script = "from iacdemo.training.cpu_share import TrainerCpuShare; TrainerCpuShare('.', niceness=9, yield_threads=1).start()"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    assert AUTOGROUP.read_text() == ours


def test_the_job_drops_threads_only_while_a_living_app_holds_the_marker(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the job's normal count, whatever an earlier test left (a 1-core runner too)
    share = TrainerCpuShare(tmp_path, niceness=0, yield_threads=1)
    try:
        share.update()
        assert torch.get_num_threads() == 2 and not app_is_using_model(tmp_path)
        with app_using_model(tmp_path):
            assert app_is_using_model(tmp_path)
            share.update()
            assert torch.get_num_threads() == 1
        share.update()
        assert torch.get_num_threads() == 2
        # a marker left behind by an app that is gone (pid of a finished process) is ignored
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout.strip()
        (tmp_path / ".app-using-model").write_text(f'{{"pid": {dead}}}')
        share.update()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
