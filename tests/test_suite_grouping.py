"""`make test` runs `pytest -n 2 --dist loadgroup --no-loadscope-reorder` and relies on xdist keeping one
group on one worker (tests/conftest.py puts the browser tests in one group, each other module in its own).
pytest 9.2 broke that silently (pytest-xdist#1386): the browser tests then spread over both workers, each
starting its own app, browser and model, and the suite got slower than with no -n. This runs the installed
pytest and xdist on a tiny project that groups tests the way our conftest does, so a version bump that
breaks it fails here."""
from __future__ import annotations

import subprocess
import sys
import textwrap


def test_installed_xdist_keeps_a_group_added_at_collection_on_one_worker(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text(textwrap.dedent('''
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_collection_modifyitems(config, items):
            if hasattr(config, "workerinput"):
                for item in items:
                    if "grouped" in item.name:
                        item.add_marker(pytest.mark.xdist_group("slow"))
    '''))
    tests = "".join(f"def test_{kind}_{i}(): record('{kind}_{i}')\n" for kind in ("grouped", "free") for i in range(6))
    (tmp_path / "test_it.py").write_text(textwrap.dedent('''
        import os, pathlib, time

        def record(name):
            time.sleep(0.05)
            with open(pathlib.Path(__file__).parent / "ran.txt", "a") as f:
                f.write(name + " " + os.environ["PYTEST_XDIST_WORKER"] + "\\n")
    ''') + tests)
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup",
                          "-q", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    ran = dict(line.split() for line in (tmp_path / "ran.txt").read_text().splitlines())
    assert len(ran) == 12
    grouped_on = {worker for name, worker in ran.items() if name.startswith("grouped")}
    assert len(grouped_on) == 1, f"the group ran on {sorted(grouped_on)}: this pytest and xdist do not keep " \
                                 "--dist loadgroup groups together (see requirements-test.txt)"
    assert set(ran.values()) == {"gw0", "gw1"}, "the ungrouped tests should use the other worker too"
