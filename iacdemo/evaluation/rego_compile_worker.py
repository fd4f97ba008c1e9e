"""Child process that compiles Rego policies for `rego.py`, so a policy that takes too long can be killed.

regorus's parser takes time exponential in some nestings (a 20-deep array literal takes more than
30 s) and a Rust call cannot be interrupted from Python, so each new policy is compiled here first,
under the parent's time limit. Run as a script (not `-m`), so it imports only regorus: starting it
costs a fraction of a second, once per app process.

Protocol: one JSON object per line each way. In: {"policy": str, "v0": bool}. Out: {"package": str}
or {"error": str}.
"""
from __future__ import annotations

import json
import sys

MEMORY_LIMIT_BYTES = 2 * 1024**3  # a runaway parse also grows memory; it dies here, not in the app


def _limit_memory() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    except (ImportError, ValueError, OSError):
        pass  # not on this platform: the parent's time limit still holds


def _compile(request: dict) -> dict:
    import regorus

    engine = regorus.Engine()
    if request.get("v0"):
        engine.set_rego_v0(True)
    try:
        return {"package": engine.add_policy("policy.rego", request["policy"])}
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - pyo3 panics are BaseExceptions; report them all
        return {"error": str(exc).strip() or type(exc).__name__}


def main() -> None:
    _limit_memory()
    for line in sys.stdin:
        try:
            reply = _compile(json.loads(line))
        except (ValueError, KeyError, TypeError) as exc:
            reply = {"error": f"bad request: {exc}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
