"""Long-lived, jailed provider processes, so the 700 MB AWS provider starts once, not once per program.

Each provider runs in its debug mode (`-debug`): it serves gRPC on a unix socket and prints the
`TF_REATTACH_PROVIDERS` value with which a `terraform` process uses it instead of starting its own.
One provider serves one Terraform run at a time (`ConfigureProvider` sets process-wide state, so two
concurrent plans with different regions would mix). Every `terraform` invocation also asks for the
provider's schema (4.9 MB, 0.3-0.6 s of provider CPU each time); a small gRPC proxy in front of each
provider answers that call from memory after the first time and forwards everything else untouched.
Without grpcio the proxy is skipped and Terraform talks to the provider directly.
"""
from __future__ import annotations

import importlib.util
import json
import os
import queue
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from iacdemo.errors import IacdemoError
from iacdemo.terraform.mirror import MirroredProvider
from iacdemo.terraform.sandbox import jail_command
from iacdemo.terraform.schema_prune import prune_schema

_SCHEMA_METHODS = ("/tfplugin5.Provider/GetSchema", "/tfplugin5.Provider/GetProviderSchema",
                   "/tfplugin6.Provider/GetProviderSchema")
_CACHED_METHODS = (*_SCHEMA_METHODS, "/tfplugin5.Provider/GetMetadata", "/tfplugin6.Provider/GetMetadata")
_NOT_FORWARDED = ("/plugin.GRPCStdio/", "/plugin.GRPCBroker/", "/plugin.GRPCController/")
_MAX_MESSAGE = 256 << 20
_JAIL_SOCK = "/sock"


class ProviderStartError(IacdemoError):
    """A provider that did not come up in debug mode."""


class CachingProxy:
    """A gRPC server on a unix socket that forwards raw messages to the provider, caching the schema
    and trimming it to `wanted()` types (all when None; see schema_prune.py)."""

    def __init__(self, upstream_socket: Path, listen_socket: Path, schema_cache: dict,
                 wanted: Callable[[], "set[str] | None"] = lambda: None):
        import grpc
        from concurrent import futures

        options = [("grpc.max_receive_message_length", _MAX_MESSAGE),
                   ("grpc.max_send_message_length", _MAX_MESSAGE)]
        self._channel = grpc.insecure_channel(f"unix:{upstream_socket}", options=options)
        self._cache = schema_cache
        self._wanted = wanted
        self._lock = threading.Lock()
        proxy = self

        class Handler(grpc.GenericRpcHandler):
            def service(self, details):
                if details.method.startswith(_NOT_FORWARDED):
                    return None  # go-plugin's stdio/broker/controller: optional for unmanaged providers
                return grpc.unary_unary_rpc_method_handler(proxy._forwarder(details.method))

        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[Handler()],
                                   options=options)
        self._server.add_insecure_port(f"unix:{listen_socket}")
        self._server.start()

    def _forwarder(self, method: str):
        call = self._channel.unary_unary(method)
        cached = method in _CACHED_METHODS
        trimmed = method in _SCHEMA_METHODS

        def forward(request: bytes, context) -> bytes:
            key = (method, request)
            with self._lock:
                response = self._cache.get(key) if cached else None
            if response is None:
                response = call(request, timeout=600)
                if cached:
                    with self._lock:
                        self._cache[key] = response
            wanted = self._wanted() if trimmed else None
            return prune_schema(response, wanted) if wanted is not None else response

        return forward

    def stop(self) -> None:
        self._server.stop(grace=None)
        self._channel.close()


@dataclass
class ProviderSlot:
    """The providers one Terraform run attaches to: their processes, sockets and reattach value."""
    index: int
    sock_dir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    proxies: list[CachingProxy] = field(default_factory=list)
    reattach: dict = field(default_factory=dict)  # as seen from inside the terraform jail
    wanted: set[str] | None = None  # the types the current program uses: the schema is trimmed to them

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.processes.values())


def _grpc_available() -> bool:
    try:  # found, not imported: cheap at start
        return importlib.util.find_spec("grpc") is not None
    except (ImportError, ValueError):  # a missing parent package
        return False


def start_provider(provider: MirroredProvider, slot: ProviderSlot, jail_root: Path, etc_dir: Path, env: dict,
                   user_namespace: bool, schema_cache: dict, timeout_s: float = 120.0) -> None:
    """Start one provider in debug mode inside a jail and add it (behind a proxy) to the slot."""
    command = jail_command(jail_root, provider.binary, ["-debug"], sock=slot.sock_dir, etc=etc_dir,
                           user_namespace=user_namespace)
    process = subprocess.Popen(with_parent_death_signal(command), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    value = _read_reattach(process, timeout_s)
    slot.processes[provider.source] = process
    info = value.get(provider.address)
    if not info:
        raise ProviderStartError(f"{provider.source} did not report a reattach address for {provider.address}.")
    upstream = slot.sock_dir / Path(info["Addr"]["String"]).name
    if _grpc_available():
        listen = slot.sock_dir / f"proxy-{provider.local_name}.sock"
        slot.proxies.append(CachingProxy(upstream, listen, schema_cache.setdefault(provider.source, {}),
                                         wanted=lambda: slot.wanted))
        info = {**info, "Addr": {"Network": "unix", "String": f"{_JAIL_SOCK}/{listen.name}"}}
    else:
        info = {**info, "Addr": {"Network": "unix", "String": f"{_JAIL_SOCK}/{upstream.name}"}}
    slot.reattach[provider.address] = info


def _read_reattach(process: subprocess.Popen, timeout_s: float) -> dict:
    """Read the provider's banner until its TF_REATTACH_PROVIDERS line; then keep draining stdout."""
    found: list[dict] = []
    done = threading.Event()

    def reader() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode(errors="replace").strip()
            if not found and "TF_REATTACH_PROVIDERS=" in line:
                text = line.split("TF_REATTACH_PROVIDERS=", 1)[1].strip().strip("'")
                try:
                    found.append(json.loads(text))
                except json.JSONDecodeError:
                    pass
                done.set()
        done.set()

    threading.Thread(target=reader, daemon=True, name="provider-stdout").start()
    if not done.wait(timeout_s) or not found:
        stop_process(process)
        raise ProviderStartError("The provider did not start in debug mode "
                                 f"(exit code {process.poll()}, {timeout_s:.0f} s limit).")
    return found[0]


def with_parent_death_signal(command: list[str]) -> list[str]:
    """`command` prefixed so that it gets SIGTERM when the thread that starts it ends (Linux
    PR_SET_PDEATHSIG via util-linux `setpriv`, kept across exec and so through the jail): a killed
    bench or app leaves no provider or moto server behind. Start long-lived children from a thread that
    lives as long as they should (see `Keeper`). Without `setpriv` the command is unchanged."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", *command] if setpriv else command


class Keeper:
    """One thread that starts the long-lived children, so their parent-death signal fires when the
    runner closes or the process dies, not when some short-lived worker thread that restarted them ends."""

    def __init__(self) -> None:
        self._jobs: "queue.Queue[tuple | None]" = queue.Queue()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="iacdemo-tf-keeper")
        self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, box, done = job
            try:
                box.append((True, fn()))
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                box.append((False, exc))
            done.set()

    def call(self, fn: Callable[[], Any]) -> Any:
        box: list = []
        done = threading.Event()
        self._jobs.put((fn, box, done))
        done.wait()
        ok, value = box[0]
        if not ok:
            raise value
        return value

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=30)


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, 15)
        except (ProcessLookupError, PermissionError):
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, 9)
            except (ProcessLookupError, PermissionError):
                process.kill()
            process.wait()


def stop_slot(slot: ProviderSlot) -> None:
    for proxy in slot.proxies:
        proxy.stop()
    for process in slot.processes.values():
        stop_process(process)
    slot.proxies.clear()
    slot.processes.clear()
    slot.reattach.clear()
    for leftover in slot.sock_dir.glob("*"):
        try:
            leftover.unlink()
        except OSError:
            pass
