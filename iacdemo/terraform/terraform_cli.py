"""The official pipeline's plan step, for machines that have Terraform and its AWS provider.

`real` mode writes the code to `main.tf` in a fresh directory and runs `terraform init`,
`terraform plan -out` and `terraform show -json`, as IaC-Eval's harness does; the policy is still
evaluated by regorus (OPA's language, no OPA binary needed). Without a `terraform` binary and an
installed AWS provider (nothing is downloaded), the harness stays in `static` mode and says so.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

STATIC = "static"
REAL = "real"
PLAN_TIMEOUT_S = 100  # the official harness's timeout per plan


# Terraform's implied local provider mirrors on Linux and macOS (no download needed from these).
_PLUGIN_DIRS = (Path.home() / ".terraform.d" / "plugins", Path.home() / ".local" / "share" / "terraform" / "plugins",
                Path("/usr/local/share/terraform/plugins"), Path("/usr/share/terraform/plugins"))


def _provider_installed() -> bool:
    for root in _PLUGIN_DIRS:
        aws = root / "registry.terraform.io" / "hashicorp" / "aws"
        if aws.is_dir() and any(aws.iterdir()):
            return True
    return False


_RUNS_LOCAL_PROGRAMS = re.compile(r'data\s+"external"|provisioner\s+"|"local-exec"|"remote-exec"')


def detect_mode() -> str:
    """`real` when `terraform` is on PATH and the AWS provider is installed locally, else `static`."""
    return REAL if shutil.which("terraform") and _provider_installed() else STATIC


@dataclass
class TerraformPlan:
    plannable: bool
    plan: dict | None
    error: str = ""


def terraform_plan(code: str, timeout_s: int = PLAN_TIMEOUT_S) -> TerraformPlan:
    """Run init + plan + show -json on one program; plannable means `terraform plan` exited 0."""
    binary = shutil.which("terraform")
    if binary is None:
        return TerraformPlan(False, None, "terraform is not installed")
    if _RUNS_LOCAL_PROGRAMS.search(code):
        # `terraform plan` runs `data "external"` programs; generated code must never execute anything.
        return TerraformPlan(False, None, "refused: the program would run local programs "
                                          "(data \"external\" or a provisioner); generated code is never executed")
    with tempfile.TemporaryDirectory(prefix="iacdemo-tf-") as tmp:
        workdir = Path(tmp)
        (workdir / "main.tf").write_text(code, encoding="utf-8")
        try:
            subprocess.run([binary, "init", "-input=false", "-no-color"], cwd=workdir, capture_output=True,
                           text=True, timeout=timeout_s)
            plan = subprocess.run([binary, "plan", "-input=false", "-no-color", "-out", "plan.out"], cwd=workdir,
                                  capture_output=True, text=True, timeout=timeout_s)
            if plan.returncode != 0:
                return TerraformPlan(False, None, (plan.stderr or plan.stdout).strip()[-2000:])
            show = subprocess.run([binary, "show", "-json", "plan.out"], cwd=workdir, capture_output=True,
                                  text=True, timeout=timeout_s)
            if show.returncode != 0:
                return TerraformPlan(True, None, show.stderr.strip()[-2000:])
            return TerraformPlan(True, json.loads(show.stdout))
        except subprocess.TimeoutExpired:
            return TerraformPlan(False, None, f"terraform timed out after {timeout_s} s")
        except (OSError, json.JSONDecodeError) as exc:
            return TerraformPlan(False, None, f"terraform failed: {exc}")
