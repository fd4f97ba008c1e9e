"""An experiment's settings: one small TOML file in `experiments/`, read and checked here.

    name = "smollm2-dynamodb"
    model = "smollm2-135m-instruct"
    [slice]     services = ["DynamoDB"]      # which docs pages (corpus builder filters)
    [train]     max_steps = 55 ...           # any TrainConfig field (train/cpt.py's flags)
    [better_data] enabled = true             # a second run with instruction pairs mixed in
    [measure]   max_new_tokens = 192 ...     # prompts, caps, repair rounds
    [iac_eval]  limit = 20 ...               # the IaC-Eval dev subset

Unknown keys are errors (a typo must not silently fall back to a default), and every problem names
the file and the key.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iacdemo.errors import ConfigError
from iacdemo.experiment.measures import DEFAULT_CHAT_REQUESTS, DEFAULT_GENERAL_PROMPTS
from iacdemo.settings import Settings, get_settings
from iacdemo.terraform.modes import MODES
from iacdemo.training.config import TrainConfig

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$")
# Set by the experiment itself: a [train] table must not override them.
_TRAIN_OWNED = ("dataset", "model", "out", "run_name", "resume", "num_processes")


@dataclass
class SliceConfig:
    services: list[str] = field(default_factory=list)  # docs subcategories, e.g. ["DynamoDB"]
    path_pattern: str = ""  # glob on page paths, e.g. "*/r/dynamodb_*"
    seq_len: int = 512  # segment length of the corpus dataset (training re-packs to train.seq_len)


@dataclass
class BetterDataConfig:
    enabled: bool = False
    chat_mix_ratio: float = 0.3  # share of training tokens that are chat/instruction pairs


@dataclass
class MeasureConfig:
    max_new_tokens: int = 192
    max_types: int = 6  # resource types of the slice probed (trained pages first)
    perplexity_tokens: int = 1024  # tokens scored per page
    max_pages: int = 40  # pages scored for perplexity (held-out ones first, then trained ones; sorted by path)
    chat_requests: list[str] = field(default_factory=lambda: list(DEFAULT_CHAT_REQUESTS))
    general_prompts: list[str] = field(default_factory=lambda: list(DEFAULT_GENERAL_PROMPTS))
    repair_rounds: int = 2
    batch_rows: int = 4
    retrieval_k: int = 3
    cpu_threads: int = 0  # torch threads for the measurements (0 = torch's default)


@dataclass
class IacEvalConfig:
    enabled: bool = True
    limit: int = 20
    difficulty: list[int] = field(default_factory=lambda: [1, 2])
    max_new_tokens: int = 384
    mode: str = "static"  # static, real or auto (real where this machine can run it); see train.evaluate --mode


@dataclass
class ExperimentConfig:
    name: str
    model: str
    source: str = ""  # the TOML file it came from
    out: str = ""  # report folder; default runs_dir/experiments/<name>
    slice: SliceConfig = field(default_factory=SliceConfig)
    train: dict[str, Any] = field(default_factory=dict)
    better_data: BetterDataConfig = field(default_factory=BetterDataConfig)
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    iac_eval: IacEvalConfig = field(default_factory=IacEvalConfig)

    def report_dir(self, settings: Settings | None = None) -> Path:
        if self.out:
            return Path(self.out).expanduser()
        return (settings or get_settings()).runs_dir / "experiments" / self.name

    def train_config(self, dataset: str | Path, out: str | Path, better: bool = False) -> TrainConfig:
        """The CPT run: the [train] table on top of TrainConfig's defaults; better data adds the pairs."""
        values = dict(self.train)
        if better:
            values.update(instruction_pairs=True, chat_mix_ratio=self.better_data.chat_mix_ratio)
        config = TrainConfig(**values, dataset=str(dataset), model=self.model, out=str(out))
        return config.validate(check_paths=False)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def fingerprint(self, *parts: str) -> str:
        """A hash of the named sections (and the model): a step is redone when one of them changes."""
        data = self.to_dict()
        picked = {p: data[p] for p in parts}
        picked["model"] = self.model
        return hashlib.sha256(json.dumps(picked, sort_keys=True).encode()).hexdigest()[:16]


def _section(cls, raw: Any, where: str):
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table, got {type(raw).__name__}.")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(names)}).")
    defaults = cls()
    for key, value in raw.items():
        expected = type(getattr(defaults, key))
        ok = isinstance(value, expected) or (expected is float and isinstance(value, int))
        if not ok or (expected is not bool and isinstance(value, bool)):
            raise ConfigError(f"{where}.{key} must be {expected.__name__}, got {value!r}.")
    return cls(**raw)


def _positive(value: int, where: str, low: int = 1) -> None:
    if value < low:
        raise ConfigError(f"{where} must be at least {low}, got {value}.")


def parse_config(data: dict[str, Any], source: str = "<config>") -> ExperimentConfig:
    """Check and convert a parsed TOML document (ConfigError naming `source` and the key)."""
    allowed = {"name", "model", "out", "slice", "train", "better_data", "measure", "iac_eval"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(allowed))}).")
    name, model = data.get("name"), data.get("model")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{source}: `name` must be a folder-safe name (letters, digits, . _ -), got {name!r}.")
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f"{source}: `model` must be a registry id, Hub id or model folder.")
    train = data.get("train") or {}
    if not isinstance(train, dict):
        raise ConfigError(f"{source}: [train] must be a table.")
    owned = sorted(set(train) & set(_TRAIN_OWNED))
    if owned:
        raise ConfigError(f"{source}: [train] cannot set {', '.join(owned)}: the experiment sets them.")
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    bad = sorted(set(train) - train_fields)
    if bad:
        raise ConfigError(f"{source}: [train] has unknown setting(s) {', '.join(bad)} (see python -m train.cpt --help).")
    config = ExperimentConfig(
        name=name, model=model.strip(), source=source, out=str(data.get("out") or ""),
        slice=_section(SliceConfig, data.get("slice"), f"{source} [slice]"), train=dict(train),
        better_data=_section(BetterDataConfig, data.get("better_data"), f"{source} [better_data]"),
        measure=_section(MeasureConfig, data.get("measure"), f"{source} [measure]"),
        iac_eval=_section(IacEvalConfig, data.get("iac_eval"), f"{source} [iac_eval]"))
    if not config.slice.services and not config.slice.path_pattern:
        raise ConfigError(f"{source} [slice]: give `services` or `path_pattern`; the whole corpus is not a slice.")
    m = config.measure
    _positive(m.max_new_tokens, f"{source} [measure].max_new_tokens", 8)
    _positive(m.max_types, f"{source} [measure].max_types")
    _positive(m.perplexity_tokens, f"{source} [measure].perplexity_tokens", 16)
    _positive(m.max_pages, f"{source} [measure].max_pages", 2)
    _positive(m.batch_rows, f"{source} [measure].batch_rows")
    _positive(m.retrieval_k, f"{source} [measure].retrieval_k")
    _positive(m.repair_rounds, f"{source} [measure].repair_rounds", 0)
    _positive(m.cpu_threads, f"{source} [measure].cpu_threads", 0)
    if not m.chat_requests or not m.general_prompts:
        raise ConfigError(f"{source} [measure]: chat_requests and general_prompts need at least one prompt each.")
    _positive(config.iac_eval.limit, f"{source} [iac_eval].limit")
    _positive(config.iac_eval.max_new_tokens, f"{source} [iac_eval].max_new_tokens", 8)
    if config.iac_eval.mode not in MODES:
        raise ConfigError(f"{source} [iac_eval].mode must be one of {', '.join(MODES)}, got {config.iac_eval.mode!r}.")
    if any(not 1 <= d <= 6 for d in config.iac_eval.difficulty):
        raise ConfigError(f"{source} [iac_eval].difficulty: levels are 1 to 6, got {config.iac_eval.difficulty}.")
    if not 0 < config.better_data.chat_mix_ratio <= 0.9:
        raise ConfigError(f"{source} [better_data].chat_mix_ratio must be in (0, 0.9].")
    config.train_config("<dataset>", "<out>")  # TrainConfig's own checks (bounds, choices), by field label
    return config


def load_config(path: str | Path) -> ExperimentConfig:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"Cannot read experiment config {path}: {exc.strerror or exc}.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}.") from exc
    return parse_config(data, str(path))
