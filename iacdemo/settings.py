"""The one place that reads the environment.

Every path, default model and environment variable of iacdemo is resolved here, once, so that the
rest of the code takes plain values and tests can build a `Settings` for a temporary directory
without touching `os.environ`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Mapping

from iacdemo.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"

EMBEDDED_DEFAULT_MODEL = "smollm2-135m-instruct"
SPACE_DEFAULT_MODEL = "Qwen/Qwen2.5-1.5B-Instruct"

SYSTEM_PROMPT = (
    "You are TerraformAI, an AI agent that builds and deploys Cloud Infrastructure written in "
    "Terraform HCL."
)


def _default_data_dir() -> Path:
    """`../shared/data` beside the repo is where our machines and CI keep the real data."""
    shared = REPO_ROOT.parent / "shared" / "data"
    return shared if shared.is_dir() else REPO_ROOT / "data"


def _as_int(value: str | None, default: int) -> int:
    try:
        return max(0, int(value)) if value not in (None, "") else default
    except ValueError:
        return default


def _as_bool(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=_default_data_dir)
    runs_dir: Path = REPO_ROOT / "runs"
    cache_dir: Path = REPO_ROOT / "cache"
    default_model: str = EMBEDDED_DEFAULT_MODEL
    device: str | None = None  # None: pick CUDA, then MPS, then CPU
    space_id: str | None = None  # set on a Hugging Face Space
    host: str = "127.0.0.1"
    port: int = 7860
    offline: bool = False  # skip hub look-ups entirely (HF_HUB_OFFLINE)
    hub_host: str = "huggingface.co"
    max_new_tokens_cap: int = 1024
    max_prompt_chars: int = 20_000
    # The Doc-completion tab scores each page's first this-many tokens under each model: the whole cost of
    # a "Score perplexity" click grows with it (one forward pass per model and page).
    perplexity_tokens: int = 1024
    # No widget takes a file, but Gradio's upload route is always open: cap it so no visitor can fill a
    # Space's disk (bigger uploads get HTTP 413).
    max_upload_bytes: int = 1024 * 1024
    # How often Gradio's queue looks for new events when it has none waiting (its own default on Linux is
    # every millisecond; see iacdemo/ui/queue_polling.py). The most an event waits before it starts.
    queue_poll_s: float = 0.05
    # A training job shares the CPU with the app's generation (see iacdemo/training/cpu_share.py): it runs
    # this much nicer, and on this many torch threads while the app uses its model (0 = unchanged).
    job_niceness: int = 10
    job_yield_threads: int = 1
    # CPU jobs are forked from a helper that has imported torch & co. once (iacdemo/training/job_server.py),
    # so they skip those imports. Off: every job is a fresh `python -m train.cpt`.
    job_server: bool = True
    # Real Terraform (optional): a filesystem mirror of providers (the folder holding
    # `registry.terraform.io`); None = look in the usual places. See iacdemo/terraform/mirror.py.
    tf_mirror: Path | None = None
    tf_plan_timeout_s: float = 100.0  # the official harness's limit per plan
    tf_workers: int = 2  # long-lived provider processes, one plan each at a time

    # Derived locations: one definition each, so loaders never build paths of their own.
    @property
    def corpus_dir(self) -> Path:
        return self.data_dir / "corpus"

    @property
    def iac_eval_csv(self) -> Path:
        return self.data_dir / "iac-eval" / "iac-eval-dev.csv"

    @property
    def provider_schema_dirs(self) -> list[Path]:
        """Where `terraform providers schema -json` dumps (`aws-<version>.json[.gz]`) are looked for:
        a fresh one cached from a local Terraform first, then the shared data's."""
        return [self.cache_dir / "provider-schema", self.data_dir / "provider-schema"]

    @property
    def datasets_dir(self) -> Path:
        return self.cache_dir / "datasets"

    @property
    def models_dir(self) -> Path:
        return self.cache_dir / "models"

    @property
    def wheels_dir(self) -> Path:
        return self.cache_dir / "wheels"

    @property
    def eval_dir(self) -> Path:
        return self.cache_dir / "eval"

    @property
    def exports_dir(self) -> Path:
        return self.cache_dir / "exports"

    @property
    def on_space(self) -> bool:
        return bool(self.space_id)

    def with_overrides(self, **changes) -> "Settings":
        return replace(self, **changes)


def _env_number(env: Mapping[str, str], name: str, default: float, low: float, integer: bool = False) -> float:
    """A numeric variable, or a ConfigError naming it (a typo must not crash the app at start)."""
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise ConfigError(f"{name} must be {'a whole number' if integer else 'a number'}, got {text!r}.") from None
    if not value >= low or value != value or value == float("inf"):
        raise ConfigError(f"{name} must be at least {low:g} and finite, got {text!r}.")
    return value


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from environment variables (IACDEMO_*, plus SPACE_ID and GRADIO_SERVER_*)."""
    env = os.environ if environ is None else environ
    base = Settings()
    space_id = env.get("SPACE_ID") or None
    default_model = env.get("IACDEMO_MODEL") or (SPACE_DEFAULT_MODEL if space_id else base.default_model)
    return Settings(
        data_dir=Path(env["IACDEMO_DATA_DIR"]) if env.get("IACDEMO_DATA_DIR") else base.data_dir,
        runs_dir=Path(env["IACDEMO_RUNS_DIR"]) if env.get("IACDEMO_RUNS_DIR") else base.runs_dir,
        cache_dir=Path(env["IACDEMO_CACHE_DIR"]) if env.get("IACDEMO_CACHE_DIR") else base.cache_dir,
        default_model=default_model,
        device=env.get("IACDEMO_DEVICE") or None,
        space_id=space_id,
        host=env.get("GRADIO_SERVER_NAME") or ("0.0.0.0" if space_id else base.host),
        port=int(env.get("GRADIO_SERVER_PORT") or base.port),
        offline=_as_bool(env.get("HF_HUB_OFFLINE")) or _as_bool(env.get("IACDEMO_OFFLINE")),
        hub_host=(env.get("HF_ENDPOINT") or "https://huggingface.co").split("://")[-1].split("/")[0],
        job_niceness=_as_int(env.get("IACDEMO_JOB_NICE"), base.job_niceness),
        job_yield_threads=_as_int(env.get("IACDEMO_JOB_YIELD_THREADS"), base.job_yield_threads),
        job_server=_as_bool(env.get("IACDEMO_JOB_SERVER") or "1"),
        perplexity_tokens=int(_env_number(env, "IACDEMO_PERPLEXITY_TOKENS", base.perplexity_tokens, low=2,
                                          integer=True)),
        queue_poll_s=_env_number(env, "IACDEMO_QUEUE_POLL_S", base.queue_poll_s, low=0.001),
        tf_mirror=Path(env["IACDEMO_TF_MIRROR"]) if env.get("IACDEMO_TF_MIRROR") else None,
        tf_plan_timeout_s=_env_number(env, "IACDEMO_TF_PLAN_TIMEOUT", base.tf_plan_timeout_s, low=1),
        tf_workers=int(_env_number(env, "IACDEMO_TF_WORKERS", base.tf_workers, low=1, integer=True)),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read from the environment on first use."""
    return settings_from_env()
