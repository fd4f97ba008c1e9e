"""Starting an experiment from the app (the Experiment tab's core): a real subprocess, read back from
the report folder."""
from __future__ import annotations

import time

import pytest

from iacdemo.errors import ConfigError, JobError
from iacdemo.experiment.launcher import experiment_configs, experiment_status, start_experiment, stop_experiment


def write_config(tmp_path, model: str) -> str:
    path = tmp_path / "exp.toml"
    path.write_text(f'name = "launch"\nmodel = "{model}"\nout = "{tmp_path / "report"}"\n'
                    '[slice]\nservices = ["DynamoDB"]\n[train]\nmax_steps = 1\n')
    return str(path)


def test_shipped_configs_are_listed():
    names = [p.name for p in experiment_configs()]
    assert "smollm2-dynamodb-smoke.toml" in names and names == sorted(names)


def test_bad_config_is_refused_before_launch(tmp_path):
    with pytest.raises(ConfigError, match="Pick an experiment config"):
        start_experiment("")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n')
    with pytest.raises(ConfigError, match="model"):
        start_experiment(bad)
    assert not (tmp_path / "report").exists()


def test_a_failing_experiment_ends_failed_with_its_message(tmp_path, settings):
    config = write_config(tmp_path, "no-such-model")
    assert experiment_status(config, settings).state == "not started"
    start_experiment(config, settings)
    deadline = time.monotonic() + 240
    status = experiment_status(config, settings)
    while status.running and time.monotonic() < deadline:
        time.sleep(0.5)
        status = experiment_status(config, settings)
    assert not status.running and status.state == "failed"
    assert "Unknown model 'no-such-model'" in status.log_tail
    with pytest.raises(JobError, match="not running"):
        stop_experiment(config, settings)


def test_finished_report_is_read_without_image_lines(tmp_path, settings):
    config = write_config(tmp_path, "m")
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.md").write_text("# Experiment\n\n| a |\n\n![systems.png](systems.png)\n")
    (report / "systems.png").write_bytes(b"\x89PNG\r\n")
    status = experiment_status(config, settings)
    assert status.state == "finished" and "| a |" in status.report_md and "![" not in status.report_md
    assert [p.name for p in status.plots] == ["systems.png"]
