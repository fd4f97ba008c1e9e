"""A training job steps aside for the app's generation: lower priority for its whole session, fewer threads
while the app uses its model (iacdemo/training/cpu_share.py; speeds in bench/RESULTS.md)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from iacdemo.training.cpu_share import TrainerCpuShare, app_is_using_model, app_using_model

AUTOGROUP = Path("/proc/self/autogroup")


@pytest.mark.skipif(not AUTOGROUP.exists(), reason="this kernel has no autogroup scheduling (/proc/self/autogroup)")
def test_a_job_in_its_own_session_lowers_its_sessions_priority_not_only_its_own(tmp_path):
    # Started like JobRunner starts a job (a new session). With autogroup scheduling, os.nice alone does
    # not make the job yield to the app at all; the session's own nice value does.
    script = textwrap.dedent(f"""
        from iacdemo.training.cpu_share import TrainerCpuShare
        TrainerCpuShare({str(tmp_path)!r}, niceness=7, yield_threads=1).start()
        print(open("/proc/self/autogroup").read())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         start_new_session=True, cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("nice 7"), out.stdout


def test_the_job_drops_threads_only_while_a_living_app_holds_the_marker(tmp_path):
    threads = torch.get_num_threads()
    if threads < 2:
        pytest.skip("torch runs on one thread here: nothing to drop")
    share = TrainerCpuShare(tmp_path, niceness=0, yield_threads=1)
    try:
        share.update()
        assert torch.get_num_threads() == threads and not app_is_using_model(tmp_path)
        with app_using_model(tmp_path):
            assert app_is_using_model(tmp_path)
            share.update()
            assert torch.get_num_threads() == 1
        share.update()
        assert torch.get_num_threads() == threads
        # a marker left behind by an app that is gone (pid of a finished process) is ignored
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout.strip()
        (tmp_path / ".app-using-model").write_text(f'{{"pid": {dead}}}')
        share.update()
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(threads)
