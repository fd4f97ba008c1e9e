"""What generated code may do in real mode: plan against allowed providers, and nothing else.

Two layers, each enough on its own for the cases it covers:

1. A parsed check of the program (python-hcl2, never a regex over the text) refuses, before Terraform
   sees it, everything that could run a program, read a file or reach a host: providers other than
   the allowed mirrored ones (so `data "external"` in any spelling: its own type, an aliased local name,
   a `provider =` meta-argument), provisioners and `connection` blocks, `module` blocks (local or
   remote), backends and `terraform_remote_state`, and the AWS provider's settings that name files,
   endpoints or proxies.
2. Terraform and each provider run in a jail: a private mount namespace whose root is an empty tmpfs
   holding only the binary, the work dir (just `main.tf`), `/dev/null` and the socket
   folder. `file("/etc/passwd")` then fails exactly as it does in IaC-Eval's empty folder ("no file
   exists at ..."), and nothing of the host can end up in a plan, an error or the UI. Environment
   variables are set from scratch, so none of the host's reach the program either.

The jail needs Linux mount namespaces (`unshare`, as root or through a user namespace). Where it cannot
be made, real mode is unavailable and scoring stays static: it never runs Terraform unjailed.
"""
from __future__ import annotations

import shutil
import subprocess
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from iacdemo.hcl.parse import BLOCK_MARKER, HCLParseError, parse_hcl

# The AWS provider's settings that read files or send requests somewhere else than the moto endpoint.
AWS_FORBIDDEN_SETTINGS = ("shared_config_files", "shared_credentials_files", "custom_ca_bundle", "endpoints",
                          "http_proxy", "https_proxy", "no_proxy", "ec2_metadata_service_endpoint",
                          "assume_role_with_web_identity", "sts_region")
_RESOURCE_KINDS = ("resource", "data", "ephemeral")
_BUILTIN_RESOURCES = {"terraform_data"}
_PARSE_LOCK = threading.RLock()  # Terraform's own no-op resource; no file, no program


@dataclass(frozen=True)
class Refusal:
    """One reason real mode will not run a program (shown to the user as is)."""
    reason: str

    def __str__(self) -> str:
        return self.reason


def _blocks(value: Any) -> list[dict]:
    """The bodies of a block list as python-hcl2 gives it (`[{label: body}]` or `[body]`)."""
    return [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, dict)]


def _labelled(value: Any, depth: int) -> Iterable[tuple[tuple[str, ...], dict]]:
    """(labels, body) for each block of a list with `depth` labels."""
    for item in _blocks(value):
        if depth == 0:
            yield (), item
            continue
        for label, sub in item.items():
            if label == BLOCK_MARKER:
                continue
            for labels, body in _labelled(sub, depth - 1):
                yield (str(label), *labels), body


def _source_of(spec: Any) -> str:
    if isinstance(spec, dict):
        return str(spec.get("source") or "")
    return str(spec or "")


def _normalise_source(source: str) -> str:
    parts = [p for p in source.strip().lower().split("/") if p]
    if len(parts) == 3 and parts[0] == "registry.terraform.io":
        parts = parts[1:]
    if len(parts) == 1:
        parts = ["hashicorp", parts[0]]
    return "/".join(parts)


def _provider_ref(value: Any) -> str:
    """`aws.west` / `${aws.west}` -> `aws`."""
    text = str(value or "").strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    return text.split(".")[0].strip()


def check_tree(tree: dict, allowed_sources: Iterable[str]) -> list[Refusal]:
    """Every reason this parsed program may not run in real mode; empty when it may."""
    allowed = {_normalise_source(s) for s in allowed_sources}
    local: dict[str, str] = {s.split("/")[1]: s for s in allowed}  # implied local names
    refusals: list[Refusal] = []

    def refuse(text: str) -> None:
        if all(r.reason != text for r in refusals):
            refusals.append(Refusal(text))

    for _, terraform in _labelled(tree.get("terraform", []), 0):
        for name in ("backend", "cloud"):
            if terraform.get(name):
                refuse(f"a `{name}` block: real mode keeps the state local and reaches no service")
        for _, providers in _labelled(terraform.get("required_providers", []), 0):
            for name, spec in providers.items():
                if name == BLOCK_MARKER:
                    continue
                source = _normalise_source(_source_of(spec) or name)
                if source in allowed:
                    local[name] = source
                else:
                    local.pop(name, None)
                    refuse(f"provider `{source}`: real mode installs only {', '.join(sorted(allowed))}")
    if tree.get("module"):
        refuse("a `module` block: real mode plans a single main.tf and installs no module")
    for labels, body in _labelled(tree.get("provider", []), 1):
        name = labels[0]
        if name not in local:
            refuse(f"provider `{name}`: real mode installs only {', '.join(sorted(allowed))}")
        elif local[name] == "hashicorp/aws":
            for setting in AWS_FORBIDDEN_SETTINGS:
                if setting in body:
                    refuse(f"provider setting `{setting}`: it names files or hosts outside the sandbox")

    def check_resource(kind: str, rtype: str, body: dict) -> None:
        for meta in ("provisioner", "connection"):
            if meta in body:
                refuse(f"a `{meta}` block: generated code never runs commands")
        if kind == "data" and rtype == "terraform_remote_state":
            refuse("`terraform_remote_state`: it reads another state file")
            return
        if kind == "resource" and rtype in _BUILTIN_RESOURCES and "provider" not in body:
            return
        name = _provider_ref(body["provider"]) if "provider" in body else rtype.split("_")[0]
        if name not in local:
            refuse(f'{kind} "{rtype}": its provider `{name}` is not installed in real mode '
                   f"(only {', '.join(sorted(allowed))})")

    def walk_resources(container: dict) -> None:
        for kind in _RESOURCE_KINDS:
            for labels, body in _labelled(container.get(kind, []), 2):
                check_resource(kind, labels[0], body)

    walk_resources(tree)
    for _, check in _labelled(tree.get("check", []), 1):
        walk_resources(check)  # scoped data sources of `check` blocks
    for _, block in _labelled(tree.get("import", []), 0):
        if "provider" in block and _provider_ref(block["provider"]) not in local:
            refuse(f"import with provider `{_provider_ref(block['provider'])}`: not installed in real mode")
    for _, removed in _labelled(tree.get("removed", []), 0):
        if "provisioner" in removed or "connection" in removed:
            refuse("a `provisioner` block: generated code never runs commands")
    return refusals


def used_types(tree: dict) -> set[str]:
    """Every resource, data-source and ephemeral type the program declares (`check` blocks included)."""
    found: set[str] = set()
    for container in [tree, *(body for _, body in _labelled(tree.get("check", []), 1))]:
        for kind in _RESOURCE_KINDS:
            found.update(labels[0] for labels, _ in _labelled(container.get(kind, []), 2))
    return found


def inspect_program(code: str, allowed_sources: Iterable[str] = ("hashicorp/aws",)
                    ) -> tuple[list[Refusal], set[str] | None]:
    """(refusals, types used) from one parse; a program python-hcl2 cannot parse is refused (it cannot
    be verified) and its types are None (unknown)."""
    try:
        with _PARSE_LOCK:  # python-hcl2's parser is shared and not thread-safe (prefetch plans in threads)
            tree = parse_hcl(code, explicit_blocks=True)
    except HCLParseError as exc:
        return [Refusal(f"the program does not parse, so it cannot be checked: {exc}")], None
    return check_tree(tree, allowed_sources), used_types(tree)


def check_program(code: str, allowed_sources: Iterable[str] = ("hashicorp/aws",)) -> list[Refusal]:
    """Parse and check; a program python-hcl2 cannot parse is refused (it cannot be verified)."""
    return inspect_program(code, allowed_sources)[0]


# --- the jail -------------------------------------------------------------------------------------

# Run as: unshare ... sh -c JAIL_SCRIPT jail ROOT BINARY WORK SOCK ETC -- ARGS...
# ROOT: an empty folder to mount the tmpfs on; WORK/SOCK/ETC: host folders shown as /work, /sock, /etc
# ("-" for none). GNU chroot changes into the new root, so no relative path reaches the host.
JAIL_SCRIPT = r"""
set -e
root=$1; binary=$2; work=$3; sock=$4; etc=$5; shift 6
mount -t tmpfs -o size=64m,mode=0755 iacdemo-jail "$root"
mkdir -p "$root/bin" "$root/dev" "$root/tmp" "$root/work" "$root/sock" "$root/etc"
: > "$root/dev/null"; mount --bind /dev/null "$root/dev/null"
: > "$root/bin/program"; mount --bind "$binary" "$root/bin/program"; mount -o remount,bind,ro "$root/bin/program"
[ "$work" = - ] || mount --bind "$work" "$root/work"
[ "$sock" = - ] || mount --bind "$sock" "$root/sock"
[ "$etc" = - ] || { mount --bind "$etc" "$root/etc"; mount -o remount,bind,ro "$root/etc"; }
cd /
exec chroot "$root" /bin/program "$@"
"""


def _unshare_prefix(user_namespace: bool) -> list[str]:
    unshare = shutil.which("unshare") or "unshare"
    prefix = [unshare, "--mount", "--propagation", "private"]
    if user_namespace:
        prefix[1:1] = ["--user", "--map-root-user"]
    return prefix


def jail_command(root: Path, binary: Path, args: list[str], *, work: Path | None = None, sock: Path | None = None,
                 etc: Path | None = None, user_namespace: bool = False) -> list[str]:
    """The argv that runs `binary args` jailed (see JAIL_SCRIPT)."""
    sh = shutil.which("sh") or "/bin/sh"
    return [*_unshare_prefix(user_namespace), sh, "-c", JAIL_SCRIPT, "jail", str(root), str(binary),
            str(work or "-"), str(sock or "-"), str(etc or "-"), "--", *args]


@lru_cache(maxsize=1)
def jail_mode() -> str | None:
    """'root' or 'userns' when a jail can be made here (tried once per process), else None."""
    import tempfile

    if not shutil.which("unshare") or not shutil.which("chroot") or not shutil.which("mount"):
        return None
    true_bin = shutil.which("true")
    if true_bin is None:
        return None
    with tempfile.TemporaryDirectory(prefix="iacdemo-jailtest-") as tmp:
        for mode, userns in (("root", False), ("userns", True)):
            try:
                probe = subprocess.run(jail_command(Path(tmp), Path(true_bin), [], user_namespace=userns),
                                       capture_output=True, timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                continue
            if probe.returncode == 0 or _static_probe_ok(probe):
                return mode
    return None


def _static_probe_ok(probe: subprocess.CompletedProcess) -> bool:
    """`true` is usually dynamically linked, so inside the empty jail it cannot start: the mounts worked
    when the only failure is chroot's exec of it (exit 127, 'No such file or directory')."""
    err = probe.stderr.decode(errors="replace")
    return probe.returncode == 127 and "chroot" in err and "No such file" in err
