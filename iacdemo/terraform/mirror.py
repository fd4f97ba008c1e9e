"""Finding the providers real mode may use: a Terraform filesystem mirror, never the network.

A filesystem mirror is Terraform's own convention (`provider_installation { filesystem_mirror }`):
`<root>/registry.terraform.io/<namespace>/<type>/<version>/<os_arch>/terraform-provider-<type>_*`
(unpacked layout). Machines keep it in different places, so the root comes from the setting
`IACDEMO_TF_MIRROR`, else from the first of Terraform's implied local mirror folders (and `/opt/tf-plugins`)
that holds one. Only the providers in `ALLOWED` are ever used from it, whatever else it holds: IaC-Eval's
programs need the AWS provider, and archive/random/null are pure functions of their arguments, whereas
`external`, `local`, `http` and friends run programs or read files.
"""
from __future__ import annotations

import platform
import re
from dataclasses import dataclass
from pathlib import Path

from iacdemo.settings import Settings, get_settings

REGISTRY = "registry.terraform.io"
ALLOWED = ("hashicorp/aws", "hashicorp/archive", "hashicorp/random", "hashicorp/null")

# Terraform's implied local mirrors on Linux/macOS, plus where these machines keep it.
_CANDIDATES = (Path.home() / ".terraform.d" / "plugins", Path.home() / ".local" / "share" / "terraform" / "plugins",
               Path("/usr/local/share/terraform/plugins"), Path("/usr/share/terraform/plugins"),
               Path("/opt/tf-plugins"), Path("/opt/terraform/plugins"))
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


@dataclass(frozen=True)
class MirroredProvider:
    source: str  # "hashicorp/aws"
    version: str
    binary: Path

    @property
    def address(self) -> str:
        return f"{REGISTRY}/{self.source}"

    @property
    def local_name(self) -> str:
        return self.source.split("/")[1]


def os_arch() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"{platform.system().lower()}_{arch}"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def providers_in(root: Path) -> dict[str, MirroredProvider]:
    """The allowed providers the mirror at `root` holds for this platform, newest version of each."""
    found: dict[str, MirroredProvider] = {}
    for source in ALLOWED:
        namespace, name = source.split("/")
        base = root / REGISTRY / namespace / name
        if not base.is_dir():
            continue
        versions = sorted((d.name for d in base.iterdir() if d.is_dir() and _VERSION.match(d.name)),
                          key=_version_key, reverse=True)
        for version in versions:
            binaries = sorted((base / version / os_arch()).glob(f"terraform-provider-{name}_*"))
            binaries = [b for b in binaries if b.is_file() and not b.name.endswith(".zip")]
            if binaries:
                found[source] = MirroredProvider(source, version, binaries[0])
                break
    return found


def find_mirror(settings: Settings | None = None) -> Path | None:
    """The mirror root holding the AWS provider: the setting if given (even when empty), else a known place."""
    settings = settings or get_settings()
    if settings.tf_mirror is not None:
        root = Path(settings.tf_mirror).expanduser()
        return root if "hashicorp/aws" in providers_in(root) else None
    for root in _CANDIDATES:
        if "hashicorp/aws" in providers_in(root):
            return root
    return None


def cli_config(mirror: Path, plugin_cache_dir: Path | None, providers: dict[str, MirroredProvider]) -> str:
    """A Terraform CLI config that can install the allowed mirrored providers and nothing else.

    There is no `direct` block: any other provider has no installation method, so `terraform init`
    fails for it instead of reaching a registry.
    """
    include = ", ".join(f'"{p.address}"' for p in providers.values())
    cache = f'plugin_cache_dir = "{plugin_cache_dir}"\n' if plugin_cache_dir else ""
    return (cache + "disable_checkpoint = true\n"
            "provider_installation {\n"
            "  filesystem_mirror {\n"
            f'    path    = "{mirror}"\n'
            f"    include = [{include}]\n"
            "  }\n"
            "}\n")


def write_cli_config(settings: Settings | None = None) -> Path | None:
    """Write `cache/terraform/terraformrc` (mirror + shared plugin cache) for running Terraform by hand
    offline (`TF_CLI_CONFIG_FILE=cache/terraform/terraformrc terraform init`); None without a mirror."""
    settings = settings or get_settings()
    root = find_mirror(settings)
    if root is None:
        return None
    folder = settings.cache_dir / "terraform"
    cache = folder / "plugin-cache"
    cache.mkdir(parents=True, exist_ok=True)
    path = folder / "terraformrc"
    path.write_text(cli_config(root, cache, providers_in(root)), encoding="utf-8")
    return path
