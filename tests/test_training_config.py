"""TrainConfig: one dataclass drives the CLI, the UI form, config.json and the shown command."""
from __future__ import annotations

import dataclasses
import re
import shlex

import pytest

from iacdemo.errors import ConfigError
from iacdemo.settings import REPO_ROOT
from iacdemo.training.config import TrainConfig, field_specs, quick_demo
from iacdemo.training.runs import validate_run_name
from iacdemo.ui.app_builder import TABS


def test_every_field_has_a_flag_with_help_and_a_ui_spec():
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    specs = field_specs()
    assert [s["name"] for s in specs] == fields
    help_text = TrainConfig.arg_parser().format_help()
    for spec in specs:
        assert spec["help"] and spec["group"] and spec["label"]
        flag = "--" + spec["name"].replace("_", "-")
        assert flag in help_text, flag
        if spec["type"] == "bool":
            assert "--no-" + spec["name"].replace("_", "-") in help_text
    assert "--no-packing" in help_text and "--lora-r" in help_text and "--max-steps" in help_text


def test_cli_json_round_trip(tmp_path):
    config = TrainConfig(dataset=str(tmp_path), out=str(tmp_path / "run"), lr=3e-4, lora_r=8, packing=False,
                         use_rslora=True, scheduler="linear", max_steps=7, target_modules="q_proj,v_proj",
                         chat_mix_ratio=0.0, epochs=2.5)
    args = config.to_cli_args()
    assert "--no-packing" in args and "--use-rslora" in args and "--dataset" in args
    assert "--batch-size" not in args  # defaults stay out of the shown command
    assert TrainConfig.from_cli(args) == config
    assert TrainConfig.from_json(config.to_json()) == config
    (tmp_path / "config.json").write_text(config.to_json())
    assert TrainConfig.from_json(tmp_path / "config.json") == config
    # --config plus an override flag
    again = TrainConfig.from_cli(["--config", str(tmp_path / "config.json"), "--lora-r", "32"])
    assert again.lora_r == 32 and again.lr == 3e-4 and again.packing is False
    cmd = shlex.split(config.command_line())
    assert cmd[:3] == ["python", "-m", "train.cpt"] and TrainConfig.from_cli(cmd[3:]) == config


def test_command_line_uses_runs_dir_and_torchrun(settings, tmp_path):
    config = TrainConfig(dataset=str(tmp_path), run_name="demo", num_processes=2)
    cmd = shlex.split(config.command_line(settings))
    assert cmd[:6] == ["python", "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    assert cmd[cmd.index("--out") + 1] == str(settings.runs_dir / "demo")


def test_from_form_converts_and_validates(tmp_path):
    config = TrainConfig.from_form({"dataset": str(tmp_path), "lr": "3e-4", "lora_r": 16.0, "max_steps": "55",
                                    "packing": False, "run_name": " demo-1 "})
    assert config.lr == 3e-4 and config.lora_r == 16 and isinstance(config.lora_r, int)
    assert config.max_steps == 55 and config.packing is False and config.run_name == "demo-1"
    bad = [({"lr": "abc"}, "Learning rate.*not a number"),
           ({"lora_r": "2.5"}, "whole number"),
           ({"lora_r": 0}, "below the minimum"),
           ({"chat_mix_ratio": 0.95}, "above the maximum"),
           ({"scheduler": "exp"}, "not one of"),
           ({"seq_len": ""}, "value is required"),
           ({"run_name": "../etc"}, "not allowed"),
           ({"nonsense": 1}, "Unknown setting")]
    for values, message in bad:
        with pytest.raises(ConfigError, match=message):
            TrainConfig.from_form({"dataset": str(tmp_path), **values})
    with pytest.raises(ConfigError, match="pick a corpus dataset"):
        TrainConfig.from_form({"lr": 1e-4})
    with pytest.raises(ConfigError, match="folder not found"):
        TrainConfig.from_form({"dataset": str(tmp_path / "missing")})
    with pytest.raises(ConfigError, match="max steps > 0 or epochs > 0"):
        TrainConfig.from_form({"dataset": str(tmp_path), "epochs": 0})


def test_cli_rejects_bad_values(tmp_path, capsys):
    with pytest.raises(SystemExit):
        TrainConfig.from_cli(["--dataset", str(tmp_path), "--lr", "fast"])
    with pytest.raises(ConfigError, match="below the minimum"):
        TrainConfig.from_cli(["--dataset", str(tmp_path), "--batch-size", "0"])


def test_run_names():
    assert validate_run_name("smollm2-20261126-101500") == "smollm2-20261126-101500"
    for bad in ["", "  ", "../x", "a/b", "..", ".hidden", "a b", "x" * 101]:
        with pytest.raises(ConfigError):
            validate_run_name(bad)


def test_quick_demo_preset(settings):
    demo = quick_demo(settings)
    assert demo.model == "smollm2-135m-instruct" and demo.subcategory == "DynamoDB"
    assert (demo.seq_len, demo.lora_r, demo.lr, demo.batch_size, demo.max_steps) == (256, 16, 3e-4, 4, 55)
    assert str(settings.datasets_dir) in demo.dataset
    demo.validate(check_paths=False)


def test_missing_dataset_message_names_a_real_tab_and_a_real_command():
    """The message sends users somewhere that exists: a tab the app has and a script that runs."""
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_form({"lr": 1e-4})
    message = str(err.value)
    tab = re.search(r"in the (\w[\w ]*?) tab", message)
    assert tab and tab.group(1) in {t.TITLE for t in TABS}, message
    command = re.search(r"`python -m ([\w.]+)`", message)
    assert command, message
    script = REPO_ROOT.joinpath(*command.group(1).split(".")).with_suffix(".py")
    assert script.is_file() and 'if __name__ == "__main__":' in script.read_text(), message
