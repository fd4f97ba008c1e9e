"""A local AWS for plan-time reads: moto's server on loopback, with fake credentials.

`terraform plan` configures the AWS provider, which asks STS who it is, and data sources read AMIs,
availability zones, regions or the caller's account. IaC-Eval's harness ran against a real account;
offline, moto's server answers the same API calls. It listens on 127.0.0.1 only, and the provider
reaches it through `AWS_ENDPOINT_URL`. Many references name `profile = "admin-1"`, so the generated AWS
config and credentials files define that profile next to `default`.

moto's AMI catalog (a 2017 list plus Amazon Linux images) lacks the Canonical Ubuntu images that programs
look up by name (`*ubuntu-noble-24.04-amd64-server-*`, owner 099720109477 or `amazon`), which any real
account finds, so `data "aws_ami"` failed with "Your query returned no results" on 8 references. The
catalog given to moto (`MOTO_AMIS_PATH`, used in every region) is moto's own plus those Ubuntu releases.
"""
from __future__ import annotations

import importlib.util
import gzip
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from iacdemo.errors import IacdemoError
from iacdemo.terraform.provider_pool import with_parent_death_signal

PROFILES = ("default", "admin-1")
FAKE_KEY_ID, FAKE_SECRET = "testing", "testing"


class MotoUnavailable(IacdemoError):
    """moto's server is not installed or did not start."""


def moto_installed() -> bool:
    try:  # found, not imported: cheap at start
        return importlib.util.find_spec("moto.server") is not None
    except (ImportError, ValueError):  # a missing parent package
        return False


def write_aws_files(folder: Path, region: str = "us-east-1") -> tuple[Path, Path]:
    """AWS config and credentials files with every profile in PROFILES; (config, credentials)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config"
    credentials = folder / "credentials"
    config.write_text("".join(f"[{'profile ' if p != 'default' else ''}{p}]\nregion = {region}\n\n"
                              for p in PROFILES), encoding="utf-8")
    credentials.write_text("".join(f"[{p}]\naws_access_key_id = {FAKE_KEY_ID}\n"
                                   f"aws_secret_access_key = {FAKE_SECRET}\n\n" for p in PROFILES),
                           encoding="utf-8")
    return config, credentials


CANONICAL = "099720109477"
_UBUNTU = (("focal", "20.04"), ("jammy", "22.04"), ("noble", "24.04"))


def _ubuntu_images() -> list[dict]:
    images = []
    for number, ((codename, version), arch, prefix) in enumerate(
            (r, a, p) for r in _UBUNTU for a in ("amd64", "arm64") for p in ("hvm-ssd", "hvm-ssd-gp3")):
        images.append({"ami_id": f"ami-0ub{number:014d}", "state": "available", "public": True,
                       "owner_id": CANONICAL, "image_location": f"{CANONICAL}/ubuntu-{codename}", "sriov": "simple",
                       "root_device_type": "ebs", "root_device_name": "/dev/sda1",
                       "description": f"Canonical, Ubuntu, {version} LTS, {arch} {codename} image",
                       "image_type": "machine", "platform": None,
                       "architecture": "x86_64" if arch == "amd64" else "arm64",
                       "name": f"ubuntu/images/{prefix}/ubuntu-{codename}-{version}-{arch}-server-20240801",
                       "virtualization_type": "hvm", "hypervisor": "xen"})  # no creation_date: moto re-parses it per region
    return images


def write_ami_catalog(path: Path) -> Path:
    """moto's default AMIs, its us-east-1 Amazon Linux list and the Ubuntu LTS images, as one JSON file."""
    import moto  # large; only needed to write real mode's image list

    resources = Path(moto.__file__).parent / "ec2" / "resources"
    images: list[dict] = []
    for source in (resources / "amis.json.gz", resources / "latest_amis" / "us-east-1.json.gz"):
        try:
            with gzip.open(source, "rt", encoding="utf-8") as handle:
                images.extend(json.load(handle))
        except (OSError, ValueError):
            continue  # another moto layout: its own defaults are lost, the Ubuntu images stay
    seen = {image["ami_id"] for image in images}
    images.extend(i for i in _ubuntu_images() if i["ami_id"] not in seen)
    path.write_text(json.dumps(images), encoding="utf-8")
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    """moto's server as a child process on 127.0.0.1; `url` is the endpoint for the AWS provider."""

    def __init__(self, log_path: Path | None = None, amis_path: Path | None = None):
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.log_path = log_path
        self.amis_path = amis_path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> "MotoServer":
        if not moto_installed():
            raise MotoUnavailable("moto's server is not installed: pip install 'moto[server]==5.2.1'.")
        self.port = _free_port()
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
            env = {**os.environ, "MOTO_AMIS_PATH": str(self.amis_path)} if self.amis_path else None
            self.process = subprocess.Popen(with_parent_death_signal(command), stdout=log, stderr=log, env=env,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise MotoUnavailable(f"moto's server exited at start (code {self.process.returncode}).")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise MotoUnavailable(f"moto's server did not listen on 127.0.0.1:{self.port} within {timeout_s:.0f} s.")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
