"""Running an IaC-Eval intent policy on a plan with regorus, scored the way the official harness does.

Officially: `opa eval -i plan.json -d policy.rego data` (with `--v1-compatible` only when the policy
imports `rego.v1`), then every leaf of the result is collected (dicts and lists walked, empty ones
contributing nothing) and the sample passes when `False not in leaves`. Python's `in` uses `==`, so
a leaf `0` fails a sample as well; undefined rules are absent and fail nothing. We evaluate the
policy's own package, which is all of `data` when a single policy is loaded.
"""
from __future__ import annotations

import hashlib
import json
import logging
import queue
import re
import subprocess
import sys
import threading
from collections import OrderedDict
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Iterable

import regorus

from iacdemo.errors import IacdemoError

log = logging.getLogger(__name__)


class PolicyError(IacdemoError):
    """A policy the Rego engine cannot compile or evaluate (scored as a failure, never a crash)."""


@dataclass
class PolicyOutcome:
    passed: bool
    package: str = ""
    value: Any = None  # the package's document
    failed_rules: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict:
        return {"passed": self.passed, "package": self.package, "failed_rules": self.failed_rules,
                "error": self.error, "value": self.value}


def uses_rego_v1(policy: str) -> bool:
    """The official harness's test, line by line: v1 syntax only for policies importing `rego.v1`."""
    return any("import rego.v1" in line for line in policy.splitlines())


# A regorus Engine is "unsendable": pyo3 panics (PanicException, a BaseException) when one made on one
# thread is touched from another, and Gradio runs each event on whichever worker thread is free. So
# compiled engines are cached per thread, never shared.
ENGINES_PER_THREAD = 256
_local = threading.local()

# pyo3 panics derive from BaseException; these two are the only ones that must still get through.
_FATAL = (KeyboardInterrupt, SystemExit)


# Parse time doubles per nesting level in some constructs (20 levels > 30 s): every new policy is
# compiled first in a child process that is killed after this long. Real policies take milliseconds.
COMPILE_TIMEOUT_S = 10.0
_WORKER = Path(__file__).with_name("rego_compile_worker.py")


class _CompileGuard:
    """One long-lived child that compiles each new policy once, under a time limit; verdicts are kept.

    A verdict is a plain string (or None for "compiles"), so unlike engines it is shared by all threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._replies: queue.Queue = queue.Queue()
        self._verdicts: dict[tuple[str, float], str | None] = {}

    def check(self, policy: str, timeout_s: float) -> None:
        """Raise PolicyError when the policy does not compile within `timeout_s` (or at all)."""
        key = (hashlib.sha256(policy.encode("utf-8", "surrogatepass")).hexdigest(), float(timeout_s))
        with self._lock:
            if key not in self._verdicts:
                self._verdicts[key] = self._compile(policy, timeout_s)
            verdict = self._verdicts[key]
        if verdict is not None:
            raise PolicyError(verdict)

    def _compile(self, policy: str, timeout_s: float) -> str | None:
        try:
            process = self._started()
            process.stdin.write(json.dumps({"policy": policy, "v0": not uses_rego_v1(policy)}) + "\n")
            process.stdin.flush()
        except OSError as exc:  # no child processes here: compile in-process, without the limit
            log.warning("Rego compile guard unavailable (%s); compiling without a time limit", exc)
            self._stop()
            return None
        try:
            reply = self._replies.get(timeout=timeout_s)
        except queue.Empty:
            self._stop()
            return (f"Rego policy took longer than {timeout_s:g} s to compile (its nesting is too deep for "
                    "the engine), so it was stopped.")
        if reply is None:  # the child died: out of memory, or the engine aborted
            self._stop()
            return "Rego policy could not be compiled: the engine ran out of memory or crashed on it."
        if "error" in reply:
            return f"Rego policy does not compile: {_first_line(reply['error'])}"
        return None

    def _started(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-I", str(_WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, text=True, encoding="utf-8", bufsize=1)
            self._replies = queue.Queue()
            threading.Thread(target=self._read, args=(self._process, self._replies), daemon=True,
                             name="rego-compile-replies").start()
        return self._process

    @staticmethod
    def _read(process: subprocess.Popen, replies: queue.Queue) -> None:
        for line in process.stdout:
            try:
                replies.put(json.loads(line))
            except ValueError:
                replies.put({"error": "unreadable reply from the compile worker"})
        replies.put(None)  # end of output: the child is gone

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()


_guard = _CompileGuard()


def _thread_engines() -> OrderedDict:
    engines = getattr(_local, "engines", None)
    if engines is None:
        engines = _local.engines = OrderedDict()
    return engines


def _compiled(policy: str) -> tuple[Any, str]:
    """This thread's engine with the policy loaded; cloned per evaluation so parsing happens once per policy."""
    engines = _thread_engines()
    if policy in engines:
        engines.move_to_end(policy)
        return engines[policy]
    _guard.check(policy, COMPILE_TIMEOUT_S)
    engine = regorus.Engine()
    if not uses_rego_v1(policy):
        engine.set_rego_v0(True)
    try:
        package = engine.add_policy("policy.rego", policy)
    except _FATAL:
        raise
    except BaseException as exc:  # regorus raises RuntimeError/ValueError with the compiler message
        raise PolicyError(f"Rego policy does not compile: {_first_line(exc)}") from None
    engines[policy] = (engine, package)
    while len(engines) > ENGINES_PER_THREAD:
        engines.popitem(last=False)
    return engine, package


def compile_policy(policy: str) -> str:
    """The policy's package path (`data.terraform.validation`); raises PolicyError if it won't compile."""
    if not policy or not policy.strip():
        raise PolicyError("Rego policy is empty.")
    return _compiled(policy)[1]


def evaluate_policy(policy: str, plan: dict | str) -> PolicyOutcome:
    """Evaluate the policy on a plan JSON; errors become a failed outcome with `error` set."""
    plan_json = plan if isinstance(plan, str) else json.dumps(plan)
    try:
        package, raw = _evaluate(policy, plan_json)
    except PolicyError as exc:
        return PolicyOutcome(passed=False, error=str(exc))
    except _FATAL:
        raise
    except BaseException as exc:  # an engine panic too: the sample fails with the reason, the run goes on
        hoisted = hoist_some_declarations(policy) if _DUPLICATE_LOCAL in str(exc) else policy
        if hoisted == policy:
            return PolicyOutcome(passed=False, error=f"Rego evaluation failed: {_first_line(exc)}")
        try:
            package, raw = _evaluate(hoisted, plan_json)
        except _FATAL:
            raise
        except BaseException as retry_exc:
            return PolicyOutcome(passed=False, error=f"Rego evaluation failed: {_first_line(retry_exc)}")
    results = raw.get("result") or []
    value = results[0]["expressions"][0]["value"] if results else {}
    false_paths = [path for path, leaf in iter_leaves(value) if _is_false(leaf)]
    failed = sorted({path.split(".")[0].split("[")[0] for path in false_paths})
    return PolicyOutcome(passed=not false_paths, package=package, value=value, failed_rules=failed)


def _is_false(leaf: Any) -> bool:
    """`False in values` in Python: 0 and 0.0 count as false, and so does False itself."""
    return not isinstance(leaf, str) and leaf is not None and leaf == False  # noqa: E712


def _evaluate(policy: str, plan_json: str) -> tuple[str, dict]:
    package = compile_policy(policy)
    engine = _compiled(policy)[0].clone()
    engine.set_input_json(plan_json)
    return package, json.loads(engine.eval_query_as_json(package))


# regorus rejects a `some x` declaration met a second time while a rule body is being iterated
# ("duplicated definition of local variable"), which OPA accepts. Declaring the same variables at the
# top of the body means the same in Rego and avoids the engine bug.
_DUPLICATE_LOCAL = "duplicated definition of local variable"
_SOME_LINE = re.compile(r"^[ \t]+some\s+[A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*\s*(?:#.*)?$")
_RULE_HEAD = re.compile(r"^[A-Za-z_][^#\n]*\{\s*(?:#.*)?$")


def hoist_some_declarations(policy: str) -> str:
    """Move each indented `some a, b` line (not `some x in xs`) to the top of its rule body."""
    lines = policy.splitlines()
    out: list[str] = []
    head_index: int | None = None
    hoisted_count = 0
    for line in lines:
        if _RULE_HEAD.match(line):
            out.append(line)
            head_index = len(out) - 1
            hoisted_count = 0
            continue
        if head_index is not None and _SOME_LINE.match(line):
            hoisted_count += 1
            out.insert(head_index + hoisted_count, line)
            continue
        out.append(line)
    return "\n".join(out) + ("\n" if policy.endswith("\n") else "")


def iter_leaves(value: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    """(path, leaf) pairs as the official `dict_generator` walks them: containers are never leaves."""
    if isinstance(value, dict):
        for key, sub in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(sub, (dict, list, tuple)):
                yield from iter_leaves(sub, path)
            else:
                yield path, sub
    elif isinstance(value, (list, tuple)):
        for i, sub in enumerate(value):
            if isinstance(sub, dict):
                yield from iter_leaves(sub, f"{prefix}[{i}]")
            else:  # the official walker does not descend into a list inside a list
                yield f"{prefix}[{i}]", sub
    else:
        yield prefix, value


def _first_line(exc: BaseException | str) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300] if len(text.splitlines()) <= 1 else " ".join(text.split())[:300]
