"""Real `terraform validate` for the tests that hold the static checks against it.

Starting the AWS provider is what costs (seconds each time, a minute on a busy machine), so a set of
programs is validated as the modules of one configuration: one `init`, one provider start, and every
error mapped back to its program by the file it points at. The mirror comes from the app's own
discovery (`iacdemo.terraform.mirror`), and a plugin cache makes each `init` a link, not a copy.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from iacdemo.terraform.mirror import cli_config, find_mirror, providers_in

HEADER = 'terraform {\n  required_providers {\n    aws = { source = "hashicorp/aws" }\n  }\n}\n'


@dataclass(frozen=True)
class TerraformCli:
    terraform: str
    root: Path  # a folder for this session's configurations
    env: dict[str, str]

    def run(self, *args: str, cwd: Path) -> subprocess.CompletedProcess:
        return subprocess.run([self.terraform, *args, "-no-color"], cwd=cwd, env=self.env,
                              capture_output=True, text=True, timeout=300)

    def validate(self, folder: Path) -> list[dict]:
        """Terraform's errors for the configuration in `folder` (initialised)."""
        run = self.run("validate", "-json", cwd=folder)
        return [d for d in json.loads(run.stdout).get("diagnostics", []) if d.get("severity") == "error"]

    def validate_each(self, programs: dict[str, str], *, alone: frozenset[str] = frozenset()) -> dict[str, list[dict]]:
        """Each program's errors. The programs in `alone` fail while Terraform loads the configuration, which
        stops the validation of every other module, so each of them is validated in a folder of its own."""
        work = Path(os.path.realpath(self.root)) / f"set{len(list(self.root.iterdir()))}"
        work.mkdir()
        errors: dict[str, list[dict]] = {}
        modules = [(name, code) for name, code in programs.items() if name not in alone]
        for name in (name for name in programs if name in alone):
            folder = work / f"alone{len(errors)}"
            folder.mkdir()
            (folder / "main.tf").write_text(HEADER + programs[name])
            errors[name] = self.validate(folder)  # load errors come before any provider is needed
        root = HEADER
        for i, (_, code) in enumerate(modules):
            (work / f"case{i}").mkdir()
            (work / f"case{i}" / "main.tf").write_text(HEADER + code)
            root += f'module "case{i}" {{\n  source = "./case{i}"\n}}\n'
        (work / "main.tf").write_text(root)
        init = self.run("init", "-input=false", cwd=work)  # installs the provider, registers the modules
        assert init.returncode == 0, init.stderr[-500:]
        by_file: dict[str, list[dict]] = {}
        for diagnostic in self.validate(work):
            by_file.setdefault((diagnostic.get("range") or {}).get("filename", "?"), []).append(diagnostic)
        assert set(by_file) <= {f"case{i}/main.tf" for i in range(len(modules))}, by_file  # each error is one case's
        errors.update((name, by_file.get(f"case{i}/main.tf", [])) for i, (name, _) in enumerate(modules))
        return errors


def terraform_cli(root: Path) -> TerraformCli | str:
    """A Terraform that installs the mirrored providers offline, or why there is none here."""
    terraform, mirror = shutil.which("terraform"), find_mirror()
    if terraform is None or mirror is None:
        return (f"real Terraform cross-check skipped: terraform on PATH: {bool(terraform)}, AWS provider mirror "
                f"found: {bool(mirror)} (set IACDEMO_TF_MIRROR to the folder holding registry.terraform.io)")
    (root / "plugin-cache").mkdir(parents=True, exist_ok=True)
    config = root / "cli.tfrc"
    config.write_text(cli_config(mirror, root / "plugin-cache", providers_in(mirror)))
    configs = root / "configs"
    configs.mkdir(exist_ok=True)
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    cli = TerraformCli(terraform, configs, env)
    probe = configs / "probe"
    probe.mkdir(exist_ok=True)
    (probe / "main.tf").write_text(HEADER)
    init = cli.run("init", "-input=false", cwd=probe)
    if init.returncode != 0:
        return f"real Terraform cross-check skipped: terraform init failed offline: {init.stderr[-300:]}"
    return cli
