"""Real mode: `terraform validate -json`, `plan` and `show -json`, offline, jailed, with a time limit.

As IaC-Eval's harness does, each program is written alone as `main.tf` into an empty folder and
planned; `terraform show -json` of the saved plan is what the intent policy reads. Differences, all
for speed or safety and none visible in a verdict: Terraform attaches to long-lived providers
(`provider_pool.py`) instead of running `terraform init`, so nothing is installed per program and only
the allowed mirrored providers exist at all; plan-time AWS reads go to moto on loopback
(`moto_server.py`); every Terraform process runs in a jail (`sandbox.py`), and every plan has a time
limit (the official 100 s by default). Results are cached per program text, and `prefetch` plans many
programs on all provider slots at once.

Real mode is optional: `availability()` says whether this machine can run it and, if not, why.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from queue import Queue
from typing import Any, Callable, Iterable

from iacdemo.errors import IacdemoError
from iacdemo.settings import Settings, get_settings
from iacdemo.terraform import mirror as mirror_mod
from iacdemo.terraform.modes import AUTO, MODES, REAL, STATIC
from iacdemo.terraform.moto_server import MotoServer, moto_installed, write_ami_catalog, write_aws_files
from iacdemo.terraform.provider_pool import (Keeper, ProviderSlot, start_provider, stop_process, stop_slot,
                                             with_parent_death_signal)
from iacdemo.terraform.sandbox import check_program, inspect_program, jail_command, jail_mode

_JAIL_WORK = "/work"
# IaC-Eval's references were written for (and pin) Terraform 1.9.8; Terraform 1.11 stands in for it.
OFFICIAL_TERRAFORM = (1, 9, 8)
_REQUIRED_VERSION = re.compile(r'^(\s*)required_version\s*=\s*"([^"\n]*)"\s*$', re.M)
_CONSTRAINT = re.compile(r"^\s*(=|!=|>=|<=|>|<|~>)?\s*v?(\d+(?:\.\d+){0,2})\s*$")
_MAX_ERROR_CHARS = 2000
_CACHE_SIZE = 4096


class RealModeUnavailable(IacdemoError):
    """Real mode was asked for on a machine that cannot run it (the message says what is missing)."""


@dataclass
class Diagnostic:
    """One of Terraform's own diagnostics, with the 1-based line of main.tf it points at."""
    severity: str
    summary: str
    detail: str = ""
    line: int | None = None
    column: int | None = None
    subject: str = ""  # the highlighted code, e.g. `enable_logging`
    command: str = "terraform validate"

    def format(self) -> str:
        """'terraform validate: Unsupported argument `enable_logging`, line 2'."""
        text = f"{self.command}: {self.summary}"
        if self.subject and "\n" not in self.subject and len(self.subject) <= 80 and any(
                c.isalnum() for c in self.subject):  # not a lone `{` of the block it points at
            text += f" `{self.subject}`"
        if self.line:
            text += f", line {self.line}"
        return text

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RealPlan:
    plannable: bool
    plan: dict | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    error: str = ""
    refused: list[str] = field(default_factory=list)
    timed_out: bool = False
    seconds: float = 0.0


def diagnostics_from(entries: Iterable[dict], command: str) -> list[Diagnostic]:
    """Terraform's JSON diagnostics (`validate -json`, or `plan -json` lines) as Diagnostics."""
    found = []
    for entry in entries:
        rng = entry.get("range") or {}
        start = rng.get("start") or {}
        snippet = entry.get("snippet") or {}
        code = snippet.get("code") or ""
        lo, hi = snippet.get("highlight_start_offset"), snippet.get("highlight_end_offset")
        subject = code[lo:hi].strip() if isinstance(lo, int) and isinstance(hi, int) else ""
        found.append(Diagnostic(severity=str(entry.get("severity") or "error"), summary=str(entry.get("summary") or ""),
                                detail=str(entry.get("detail") or ""), line=start.get("line"),
                                column=start.get("column"), subject=subject, command=command))
    return found


def _first_error(diagnostics: list[Diagnostic], fallback: str) -> str:
    errors = [d for d in diagnostics if d.severity == "error"] or diagnostics
    if not errors:
        return fallback.strip()[-_MAX_ERROR_CHARS:]
    first = errors[0]
    text = first.format() + (f": {first.detail}" if first.detail else "")
    return text[:_MAX_ERROR_CHARS]


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def satisfies(version: tuple[int, int, int], constraint: str) -> bool | None:
    """Terraform's version-constraint test (`>= 1.2, ~> 1.9.0`); None when the constraint is unreadable."""
    for part in constraint.split(","):
        match = _CONSTRAINT.match(part)
        if not match:
            return None
        op, wanted = match.group(1) or "=", _version_tuple(match.group(2))
        padded = wanted + (0,) * (3 - len(wanted))
        if op == "~>":  # the last given component may grow
            fixed = wanted[:-1] if len(wanted) > 1 else wanted
            ok = version >= padded and version[:len(fixed)] == fixed
        else:
            ok = {"=": version == padded, "!=": version != padded, ">": version > padded, ">=": version >= padded,
                  "<": version < padded, "<=": version <= padded}[op]
        if not ok:
            return False
    return True


def as_official_terraform(code: str) -> str:
    """Blank a `required_version` that IaC-Eval's Terraform (1.9.8) satisfies, keeping line numbers,
    so Terraform 1.11 does not refuse the references' `~> 1.9.8`; any other constraint stays."""
    def blank(match: re.Match) -> str:
        return f"{match.group(1)}# {match.group(0).strip()}" if satisfies(OFFICIAL_TERRAFORM, match.group(2)) \
            else match.group(0)
    return _REQUIRED_VERSION.sub(blank, code)


def availability(settings: Settings | None = None) -> tuple[bool, str]:
    """(True, what will be used) when real mode can run here, else (False, what is missing)."""
    settings = settings or get_settings()
    if shutil.which("terraform") is None:
        return False, "terraform is not on PATH"
    root = mirror_mod.find_mirror(settings)
    if root is None:
        where = settings.tf_mirror or "the usual places (set IACDEMO_TF_MIRROR)"
        return False, f"no filesystem mirror with the AWS provider in {where}"
    if not moto_installed():
        return False, "moto's server is not installed (pip install 'moto[server]==5.2.1')"
    if jail_mode() is None:
        return False, "no sandbox: real mode needs Linux mount namespaces (unshare)"
    providers = mirror_mod.providers_in(root)
    names = ", ".join(f"{p.source} {p.version}" for p in providers.values())
    return True, f"terraform + {names} from {root}"


def resolve_mode(mode: str | None, settings: Settings | None = None) -> str:
    """`auto` (or None) -> real where available, else static; `real` where unavailable -> an error."""
    mode = (mode or AUTO).lower()
    if mode not in MODES:
        raise RealModeUnavailable(f"Unknown mode {mode!r}: use static, real or auto.")
    if mode == STATIC:
        return STATIC
    ok, why = availability(settings)
    if mode == REAL and not ok:
        raise RealModeUnavailable(f"Real mode is not available on this machine: {why}.")
    return REAL if ok else STATIC


class RealTerraform:
    """Providers, moto and the jails for real-mode runs; thread-safe, one run per provider slot."""

    def __init__(self, settings: Settings | None = None, workers: int | None = None):
        self.settings = settings or get_settings()
        self.workers = max(1, workers or self.settings.tf_workers)
        self.terraform = shutil.which("terraform")
        self.mirror = mirror_mod.find_mirror(self.settings)
        self.providers = mirror_mod.providers_in(self.mirror) if self.mirror else {}
        self.state_dir: Path | None = None
        self.moto: MotoServer | None = None
        self._slots: Queue[ProviderSlot] = Queue()
        self._all_slots: list[ProviderSlot] = []
        self._schema_cache: dict = {}
        self._cache: OrderedDict[str, RealPlan] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._userns = False
        self._env: dict[str, str] = {}
        self._keeper: Keeper | None = None
        self.started = False
        # Plans read only the types the program declares (schema_prune.py); `validate` keeps the whole
        # schema, so the UI also gets Terraform's "did you mean" suggestions.
        self.trim_schema = True

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> "RealTerraform":
        ok, why = availability(self.settings)
        if not ok:
            raise RealModeUnavailable(f"Real mode is not available on this machine: {why}.")
        self._userns = jail_mode() == "userns"
        # Short paths: unix socket paths are limited to 108 bytes.
        self.state_dir = Path(tempfile.mkdtemp(prefix="iacdemo-tf-"))
        for sub in ("jail", "work", "etc-tf", "etc-aws"):
            (self.state_dir / sub).mkdir()
        # Inside the jail the mirror is not even mounted: the attached providers are all there is.
        (self.state_dir / "etc-tf" / "terraformrc").write_text(
            mirror_mod.cli_config(Path("/mirror"), None, self.providers), encoding="utf-8")
        write_aws_files(self.state_dir / "etc-aws")
        self._keeper = Keeper()
        amis = write_ami_catalog(self.state_dir / "amis.json")
        self.moto = self._keeper.call(MotoServer(self.state_dir / "moto.log", amis).start)
        self._env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/tmp", "TMPDIR": "/sock", "TF_IN_AUTOMATION": "1",
                     "CHECKPOINT_DISABLE": "1", "AWS_ENDPOINT_URL": self.moto.url,
                     "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_CONFIG_FILE": "/etc/config", "AWS_SHARED_CREDENTIALS_FILE": "/etc/credentials",
                     "AWS_EC2_METADATA_DISABLED": "true"}
        try:
            for index in range(self.workers):
                slot = ProviderSlot(index=index, sock_dir=self.state_dir / f"sock{index}")
                slot.sock_dir.mkdir()
                self._start_slot(slot)
                self._all_slots.append(slot)
                self._slots.put(slot)
        except Exception:
            self.close()
            raise
        self.started = True
        return self

    def _start_slot(self, slot: ProviderSlot) -> None:
        assert self.state_dir is not None and self._keeper is not None
        for provider in self.providers.values():
            self._keeper.call(lambda p=provider: start_provider(
                p, slot, self.state_dir / "jail", self.state_dir / "etc-aws", self._env, self._userns,
                self._schema_cache))

    def close(self) -> None:
        for slot in self._all_slots:
            stop_slot(slot)
        self._all_slots.clear()
        if self.moto:
            self.moto.stop()
        if self._keeper is not None:
            self._keeper.stop()
            self._keeper = None
        if self.state_dir and self.state_dir.exists():
            shutil.rmtree(self.state_dir, ignore_errors=True)
        self.started = False

    def __enter__(self) -> "RealTerraform":
        return self.start() if not self.started else self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- running ----------------------------------------------------------------------------------

    def _run_jailed(self, slot: ProviderSlot, work: Path, args: list[str], timeout_s: float
                    ) -> tuple[int | None, str, str]:
        """(exit code or None on timeout, stdout, stderr) of `terraform -chdir=/work ARGS` in a jail."""
        assert self.state_dir is not None and self.terraform is not None
        env = {**self._env, "TMPDIR": "/tmp", "TF_CLI_CONFIG_FILE": "/etc/terraformrc",
               "TF_REATTACH_PROVIDERS": json.dumps(slot.reattach)}
        command = jail_command(self.state_dir / "jail", Path(self.terraform), [f"-chdir={_JAIL_WORK}", *args],
                               work=work, sock=slot.sock_dir, etc=self.state_dir / "etc-tf",
                               user_namespace=self._userns)
        process = subprocess.Popen(with_parent_death_signal(command), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
        try:
            out, err = process.communicate(timeout=max(0.01, timeout_s))
        except subprocess.TimeoutExpired:
            stop_process(process)
            process.communicate()
            return None, "", ""
        return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")

    def _with_slot(self, work_fn: Callable[[ProviderSlot], Any], wanted: set[str] | None = None) -> Any:
        """Run on a free slot; `wanted`: the types to trim the provider schema to (None: all of it)."""
        if not self.started:
            self.start()
        slot = self._slots.get()
        slot.wanted = wanted
        if not slot.alive():
            self._restart(slot)
        try:
            return work_fn(slot)
        finally:
            slot.wanted = None
            if not slot.alive():  # a provider crashed on that program: give the next one a fresh one
                self._restart(slot)
            self._slots.put(slot)

    def _restart(self, slot: ProviderSlot) -> None:
        stop_slot(slot)
        try:
            self._start_slot(slot)
        except IacdemoError:
            pass  # the next run on this slot fails with Terraform's own connection error

    def _workdir(self, code: str) -> Path:
        assert self.state_dir is not None
        work = Path(tempfile.mkdtemp(dir=self.state_dir / "work"))
        (work / "main.tf").write_text(as_official_terraform(code), encoding="utf-8")
        return work

    def validate(self, code: str, timeout_s: float | None = None) -> list[Diagnostic]:
        """`terraform validate -json`'s diagnostics; a refused program gets one diagnostic saying why."""
        refusals = check_program(code, self.providers)
        if refusals:
            return [Diagnostic("error", f"refused by the sandbox: {r}", command="real mode") for r in refusals]
        timeout_s = timeout_s or self.settings.tf_plan_timeout_s

        def run(slot: ProviderSlot) -> list[Diagnostic]:
            work = self._workdir(code)
            try:
                rc, out, err = self._run_jailed(slot, work, ["validate", "-json", "-no-color"], timeout_s)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            if rc is None:
                return [Diagnostic("error", f"timed out after {timeout_s:.0f} s", command="terraform validate")]
            try:
                report = json.loads(out)
            except json.JSONDecodeError:
                return [Diagnostic("error", (err or out).strip()[:300] or f"exit code {rc}",
                                   command="terraform validate")]
            return diagnostics_from(report.get("diagnostics") or [], "terraform validate")

        return self._with_slot(run)

    def plan(self, code: str, timeout_s: float | None = None) -> RealPlan:
        """Plan one program (cached by its text): plannable when `terraform plan` exits 0."""
        key = hashlib.sha256(code.encode("utf-8", errors="surrogatepass")).hexdigest()
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        result = self._plan_uncached(code, timeout_s or self.settings.tf_plan_timeout_s)
        with self._cache_lock:
            self._cache[key] = result
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return result

    def _plan_uncached(self, code: str, timeout_s: float) -> RealPlan:
        started = time.perf_counter()
        refusals, types = inspect_program(code, self.providers)
        if refusals:
            return RealPlan(False, error="refused by the sandbox: " + "; ".join(map(str, refusals)),
                            refused=[str(r) for r in refusals])

        def run(slot: ProviderSlot) -> RealPlan:
            work = self._workdir(code)
            try:
                return self._plan_in(slot, work, timeout_s, started)
            finally:
                shutil.rmtree(work, ignore_errors=True)

        result = self._with_slot(run, wanted=types if self.trim_schema else None)
        result.seconds = round(time.perf_counter() - started, 3)
        return result

    def _plan_in(self, slot: ProviderSlot, work: Path, timeout_s: float, started: float) -> RealPlan:
        plan_args = ["plan", "-input=false", "-no-color", "-lock=false", "-json", f"-out={_JAIL_WORK}/plan.out"]
        rc, out, err = self._run_jailed(slot, work, plan_args, timeout_s)
        if rc is None:
            return RealPlan(False, error=f"terraform plan timed out after {timeout_s:.0f} s", timed_out=True)
        lines = []
        for raw in out.splitlines():
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                continue
        diagnostics = diagnostics_from((m.get("diagnostic") or {} for m in lines if m.get("type") == "diagnostic"),
                                       "terraform plan")
        if rc != 0:
            return RealPlan(False, diagnostics=diagnostics,
                            error=_first_error(diagnostics, err or out or f"terraform plan exited {rc}"))
        left = timeout_s - (time.perf_counter() - started)
        rc, out, err = self._run_jailed(slot, work, ["show", "-json", "-no-color", f"{_JAIL_WORK}/plan.out"], left)
        if rc is None:
            return RealPlan(True, diagnostics=diagnostics, timed_out=True,
                            error=f"terraform show timed out after {timeout_s:.0f} s")
        try:
            plan = json.loads(out) if rc == 0 else None
        except json.JSONDecodeError:
            plan = None
        if plan is None:
            return RealPlan(True, diagnostics=diagnostics, error=(err or out).strip()[-_MAX_ERROR_CHARS:])
        return RealPlan(True, plan=plan, diagnostics=diagnostics)

    def prefetch(self, codes: Iterable[str], progress: Callable[[int, int], Any] | None = None,
                 timeout_s: float | None = None) -> None:
        """Plan many programs on all slots at once (results land in the cache `plan` reads)."""
        unique = list(dict.fromkeys(c for c in codes if c and c.strip()))
        if not self.started:
            self.start()
        done = 0
        lock = threading.Lock()

        def one(code: str) -> None:
            nonlocal done
            self.plan(code, timeout_s)
            with lock:
                done += 1
                if progress:
                    progress(done, len(unique))

        with ThreadPoolExecutor(max_workers=len(self._all_slots) or 1) as pool:
            list(pool.map(one, unique))


_RUNNER: RealTerraform | None = None
_RUNNER_LOCK = threading.Lock()


def get_runner(settings: Settings | None = None) -> RealTerraform:
    """The process-wide runner, started on first use and closed at exit."""
    global _RUNNER
    with _RUNNER_LOCK:
        if _RUNNER is None or not _RUNNER.started:
            _RUNNER = RealTerraform(settings).start()
            atexit.register(_RUNNER.close)
        return _RUNNER


def set_runner(runner: RealTerraform | None) -> None:
    """Make `runner` the process-wide one (a bench or test that manages its own runner's life)."""
    global _RUNNER
    with _RUNNER_LOCK:
        _RUNNER = runner


def real_diagnostics(code: str, settings: Settings | None = None) -> list[Diagnostic]:
    """Terraform's own diagnostics for one program (`terraform validate -json`), [] where real mode is
    unavailable or the code is empty: the static checks still stand beside them."""
    if not code or not code.strip() or not availability(settings)[0]:
        return []
    try:
        return get_runner(settings).validate(code)
    except IacdemoError:
        return []


def terraform_lines(code: str | None, settings: Settings | None = None) -> list[str]:
    """Terraform's own errors and warnings for the UI's badges, one line each ([] without real mode)."""
    return [d.format() for d in real_diagnostics(code or "", settings)]


def mode_choices(settings: Settings | None = None) -> list[tuple[str, str]]:
    """(label, mode) pairs for a scoring-mode picker: static always, real where this machine can run it."""
    ok, why = availability(settings)
    choices = [("static (offline stand-in, seconds)", STATIC)]
    if ok:
        choices.append(("real (terraform plan + OPA, minutes)", REAL))
    return choices


def plan_to_json(plan: RealPlan) -> dict:
    return {"plannable": plan.plannable, "error": plan.error, "refused": plan.refused, "timed_out": plan.timed_out,
            "diagnostics": [d.to_dict() for d in plan.diagnostics], "seconds": plan.seconds}


__all__ = ["STATIC", "REAL", "AUTO", "MODES", "Diagnostic", "RealPlan", "RealTerraform", "RealModeUnavailable",
           "availability", "resolve_mode", "get_runner", "set_runner", "real_diagnostics", "terraform_lines",
           "mode_choices", "diagnostics_from"]
