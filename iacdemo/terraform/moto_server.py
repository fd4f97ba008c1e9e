"""A local AWS for plan-time reads: moto's server on loopback, with fake credentials.

`terraform plan` configures the AWS provider, which asks STS who it is, and data sources read AMIs,
availability zones, regions or the caller's account. IaC-Eval's harness ran against a real account;
offline, moto's server answers the same API calls. It listens on 127.0.0.1 only, and the provider
reaches it through `AWS_ENDPOINT_URL`. Many references name `profile = "admin-1"`, so the generated AWS
config and credentials files define that profile next to `default`.
"""
from __future__ import annotations

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
    try:
        import moto.server  # noqa: F401
    except ImportError:
        return False
    return True


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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    """moto's server as a child process on 127.0.0.1; `url` is the endpoint for the AWS provider."""

    def __init__(self, log_path: Path | None = None):
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.log_path = log_path

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
            self.process = subprocess.Popen(with_parent_death_signal(command), stdout=log, stderr=log,
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
