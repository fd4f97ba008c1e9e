"""The one typed description of a training run.

`TrainConfig` is the single source of truth: the argparse CLI of `train/cpt.py`, the Train tab's form,
`config.json` in each run folder and the "show command" box are all generated from its fields and their
metadata (help text, bounds, choices, UI group), so a new hyperparameter is added in exactly one place
and can never be missing from one of the four.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from iacdemo.errors import ConfigError
from iacdemo.number_input import is_blank, parse_number
from iacdemo.settings import EMBEDDED_DEFAULT_MODEL, Settings, get_settings
from iacdemo.training.runs import validate_run_name

MAX_ID_CHARS = 1024  # a model id or dataset path longer than this is a paste accident, not a name


def _is_dir(path: str) -> bool:
    try:
        return Path(path).expanduser().is_dir()
    except OSError:  # "File name too long" and friends: no such folder
        return False

DEFAULT_TARGET_MODULES = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
SCHEDULERS = ("cosine", "linear", "constant")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "bf16", "fp32")
# Holds out 2 of the 11 DynamoDB pages of the quick demo (about 1/6 of its text).
QUICK_DEMO_EVAL_FRACTION = 0.2
GROUPS = ("Data", "Model", "LoRA", "Optimization", "Schedule", "Evaluation & saving", "Run")


def _f(default: Any, help: str, group: str, label: str | None = None, min: float | None = None,
       max: float | None = None, choices: tuple[str, ...] | None = None, advanced: bool = False):
    """A dataclass field carrying everything the CLI and the UI need to present it."""
    meta = {"help": help, "group": group, "label": label, "min": min, "max": max, "choices": choices,
            "advanced": advanced}
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    # --- Data -----------------------------------------------------------------------------------
    dataset: str = _f("", "Corpus dataset folder (written by the corpus builder; datasets.load_from_disk format).",
                      "Data", "Dataset")
    subcategory: str = _f("", "Train only on rows of this docs subcategory (e.g. DynamoDB); empty = all rows.",
                          "Data", "Subcategory filter")
    seq_len: int = _f(512, "Tokens per training block.", "Data", "Sequence length", min=16, max=32768)
    packing: bool = _f(True, "Concatenate documents with EOS between them and cut full blocks, so no compute "
                       "goes to padding. --no-packing pads each document to seq_len instead.", "Data", "Packing")
    chat_mix_ratio: float = _f(0.15, "Forgetting guard: fraction of training tokens that are chat examples built "
                               "from the docs (page description -> Example Usage HCL). 0 disables.",
                               "Data", "Chat mix ratio", min=0.0, max=0.9)
    instruction_pairs: bool = _f(False, "Better data: also turn each resource page's Example Usage and argument "
                                 "list into instruction -> code chat pairs (mixed in at the chat mix ratio).",
                                 "Data", "Instruction pairs")
    # --- Model ----------------------------------------------------------------------------------
    model: str = _f(EMBEDDED_DEFAULT_MODEL, "Base model: registry id, Hugging Face Hub id or local model folder.",
                    "Model", "Base model")
    device: str = _f("auto", "Device: auto picks CUDA, then MPS, then CPU (bf16 on CUDA, fp32 elsewhere).",
                     "Model", "Device", choices=DEVICES, advanced=True)
    precision: str = _f("auto", "Weights and compute: auto = bf16 on CUDA, fp32 elsewhere; fp32 also runs on GPUs "
                        "without bf16 (slower, twice the memory); bf16 on a CPU is many times slower.",
                        "Model", "Precision", choices=PRECISIONS, advanced=True)
    cpu_threads: int = _f(0, "CPU threads for torch (0 = torch's default). On a small shared CPU 1 can be several "
                          "times faster than oversubscribed threads.", "Model", "CPU threads", min=0, max=1024,
                          advanced=True)
    gradient_checkpointing: bool = _f(False, "Recompute activations in the backward pass: about half the memory, "
                                      "slower on GPU.", "Model", "Gradient checkpointing")
    # --- LoRA -----------------------------------------------------------------------------------
    lora_r: int = _f(16, "LoRA rank.", "LoRA", "LoRA rank r", min=1, max=1024)
    lora_alpha: float = _f(32.0, "LoRA alpha (scale = alpha / r, or alpha / sqrt(r) with rsLoRA).", "LoRA",
                           "LoRA alpha", min=0.01, max=4096)
    lora_dropout: float = _f(0.05, "Dropout on the LoRA input.", "LoRA", "LoRA dropout", min=0.0, max=0.9)
    target_modules: str = _f(DEFAULT_TARGET_MODULES, "Comma-separated module names to adapt (default: all "
                             "attention and MLP projections), or 'all-linear'.", "LoRA", "Target modules")
    use_rslora: bool = _f(False, "Rank-stabilised LoRA scaling (alpha / sqrt(r)).", "LoRA", "rsLoRA")
    train_embeddings: bool = _f(False, "Also train embed_tokens and lm_head (full copies, tied ones kept tied) "
                                "with their own smaller learning rate.", "LoRA", "Train embeddings")
    # --- Optimization ---------------------------------------------------------------------------
    lr: float = _f(2e-4, "Peak learning rate of the LoRA weights.", "Optimization", "Learning rate",
                   min=1e-8, max=1.0)
    embed_lr: float = _f(2e-5, "Peak learning rate of embed_tokens/lm_head (only with --train-embeddings).",
                         "Optimization", "Embedding learning rate", min=1e-8, max=1.0)
    batch_size: int = _f(4, "Blocks per micro-batch on each device.", "Optimization", "Batch size",
                         min=1, max=4096)
    grad_accum: int = _f(1, "Micro-batches accumulated per optimizer step.", "Optimization",
                         "Gradient accumulation", min=1, max=4096)
    weight_decay: float = _f(0.0, "AdamW weight decay.", "Optimization", "Weight decay", min=0.0, max=1.0,
                             advanced=True)
    max_grad_norm: float = _f(1.0, "Clip the gradient norm to this value (0 disables clipping).", "Optimization",
                              "Max grad norm", min=0.0, max=1e6, advanced=True)
    seed: int = _f(42, "Random seed (LoRA init, data order, dropout).", "Optimization", "Seed",
                   min=0, max=2**31 - 1)
    # --- Schedule -------------------------------------------------------------------------------
    max_steps: int = _f(0, "Optimizer steps to run; 0 = use epochs.", "Schedule", "Max steps", min=0, max=10**7)
    epochs: float = _f(1.0, "Passes over the training blocks (used when max steps is 0).", "Schedule", "Epochs",
                       min=0.0, max=1000.0)
    scheduler: str = _f("cosine", "Learning-rate decay after warmup.", "Schedule", "LR schedule", choices=SCHEDULERS)
    warmup_ratio: float = _f(0.05, "Warmup as a fraction of all steps.", "Schedule", "Warmup ratio",
                             min=0.0, max=0.5)
    warmup_steps: int = _f(0, "Warmup steps; overrides the ratio when > 0.", "Schedule", "Warmup steps",
                           min=0, max=10**6, advanced=True)
    # --- Evaluation & saving --------------------------------------------------------------------
    eval_fraction: float = _f(0.05, "Fraction of the documents (whole pages) held out for eval loss; 0 disables.",
                              "Evaluation & saving", "Eval fraction", min=0.0, max=0.5)
    eval_every: int = _f(50, "Evaluate every N steps (and always at the start and end); 0 = only start and end.",
                         "Evaluation & saving", "Eval every", min=0, max=10**6)
    eval_max_batches: int = _f(20, "Cap on eval batches per evaluation, to keep evaluation cheap.",
                               "Evaluation & saving", "Eval batches", min=1, max=10**6, advanced=True)
    log_every: int = _f(1, "Write a metrics row every N steps (the first step is always logged).",
                        "Evaluation & saving", "Log every", min=1, max=10**6)
    save_every: int = _f(100, "Save a resumable checkpoint every N steps; 0 = only on stop and at the end.",
                         "Evaluation & saving", "Checkpoint every", min=0, max=10**7)
    keep_checkpoints: int = _f(2, "Keep only the newest N checkpoints.", "Evaluation & saving",
                               "Checkpoints kept", min=1, max=1000, advanced=True)
    # --- Run ------------------------------------------------------------------------------------
    run_name: str = _f("", "Run name (folder under the runs dir); empty = model + timestamp.", "Run", "Run name")
    out: str = _f("", "Run directory; overrides the runs dir + run name.", "Run", "Output folder", advanced=True)
    resume: bool = _f(False, "Continue from the run directory's newest checkpoint (step, optimizer, scheduler).",
                      "Run", "Resume")
    num_processes: int = _f(1, "Processes (GPUs) to train on; > 1 launches torchrun (DDP).", "Run",
                            "Processes", min=1, max=64, advanced=True)

    # ----------------------------------------------------------------------------------------------
    def validate(self, check_paths: bool = True) -> "TrainConfig":
        """Raise ConfigError naming the first bad setting; return self so calls can be chained."""
        for spec in field_specs():
            value = getattr(self, spec["name"])
            label = _label(spec)
            if spec["type"] in ("int", "float"):
                _parse_number_field(value, spec)
                if isinstance(value, str):  # "3e-4" in a hand-edited config.json: a number, but stored as text
                    raise ConfigError(f"{label} must be a number, not the text {value!r}.")
            if spec["choices"] and value not in spec["choices"]:
                raise ConfigError(f"{label}: {value!r} is not one of {', '.join(spec['choices'])}.")
        for label, text in (("Base model", self.model), ("Dataset", self.dataset)):
            if len(text) > MAX_ID_CHARS:  # the OS refuses such paths ("File name too long"): say so first
                raise ConfigError(f"{label}: {len(text):,} characters is too long for a model id or folder "
                                  f"(at most {MAX_ID_CHARS:,}).")
        if not self.dataset.strip():
            raise ConfigError("Dataset: pick a corpus dataset folder (build one in the Data tab or with "
                              "`python -m train.build_corpus`).")
        if check_paths and not _is_dir(self.dataset):
            raise ConfigError(f"Dataset: folder not found: {self.dataset}")
        if not self.model.strip():
            raise ConfigError("Base model: give a model id or folder.")
        if self.max_steps == 0 and self.epochs <= 0:
            raise ConfigError("Schedule: set max steps > 0 or epochs > 0.")
        if not self.target_module_list():
            raise ConfigError("Target modules: name at least one module (e.g. q_proj,v_proj) or 'all-linear'.")
        if self.run_name:
            validate_run_name(self.run_name)
        return self

    def target_module_list(self) -> list[str]:
        return [m.strip() for m in self.target_modules.split(",") if m.strip()]

    def run_dir(self, settings: Settings | None = None) -> Path:
        """Where this run writes: `out` if given, else runs_dir/run_name."""
        if self.out:
            return Path(self.out).expanduser()
        if not self.run_name:
            raise ConfigError("Give a run name or an output folder (--out).")
        return (settings or get_settings()).runs_dir / self.run_name

    # --- conversions ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "TrainConfig":
        """From config.json: unknown keys are ignored so runs of older versions still open."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> "TrainConfig":
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            try:
                text = Path(text_or_path).read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"Cannot read config {text_or_path}: {exc}") from exc
        try:
            return cls.from_dict(json.loads(text))
        except (json.JSONDecodeError, TypeError) as exc:
            raise ConfigError(f"Not a valid config.json: {exc}") from exc

    @classmethod
    def from_form(cls, values: Mapping[str, Any], check_paths: bool = True) -> "TrainConfig":
        """From the UI form (strings from text boxes, floats from number boxes, bools from checkboxes).

        Missing keys keep their defaults. Raises ConfigError with the field's label on any bad value.
        """
        specs = {s["name"]: s for s in field_specs()}
        kwargs: dict[str, Any] = {}
        for name, raw in values.items():
            if name not in specs:
                raise ConfigError(f"Unknown setting '{name}'.")
            kwargs[name] = _coerce(raw, specs[name])
        return cls(**kwargs).validate(check_paths=check_paths)

    def to_cli_args(self) -> list[str]:
        """Flags for `python -m train.cpt`: model, dataset and out always, other settings when not default."""
        args: list[str] = []
        defaults = TrainConfig()
        for spec in field_specs():
            name = spec["name"]
            value = getattr(self, name)
            if name == "run_name" or (value == getattr(defaults, name) and name not in ("model", "dataset", "out")):
                continue
            if name == "out" and not value:
                continue
            flag = "--" + name.replace("_", "-")
            if spec["type"] == "bool":
                args.append(flag if value else "--no-" + name.replace("_", "-"))
            else:
                args += [flag, _format_value(value)]
        return args

    def launch_argv(self, settings: Settings | None = None, python: str = "python") -> list[str]:
        """The argv that runs this config: `python -m train.cpt ...`, through torchrun for several processes."""
        config = self
        if not self.out and self.run_name:
            config = dataclasses.replace(self, out=str(self.run_dir(settings)))
        if self.num_processes > 1:
            launcher = [python, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                        str(self.num_processes)]
        else:
            launcher = [python]
        return launcher + ["-m", "train.cpt"] + config.to_cli_args()

    def command_line(self, settings: Settings | None = None, python: str = "python") -> str:
        """The shell command equivalent to this config (what the Train tab's "show command" box shows)."""
        return shlex.join(self.launch_argv(settings, python))

    # --- CLI --------------------------------------------------------------------------------------
    @classmethod
    def arg_parser(cls) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(
            prog="python -m train.cpt",
            description="LoRA continued pre-training of a causal LM on a docs corpus dataset.",
            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        parser.add_argument("--config", help="Start from this config.json; flags given here override it.")
        groups = {g: parser.add_argument_group(g) for g in GROUPS}
        for spec in field_specs():
            flag = "--" + spec["name"].replace("_", "-")
            kwargs: dict[str, Any] = {"dest": spec["name"], "default": argparse.SUPPRESS, "help": spec["help"]}
            if spec["type"] == "bool":
                kwargs["action"] = argparse.BooleanOptionalAction
            else:
                kwargs["type"] = {"int": int, "float": float, "str": str}[spec["type"]]
                kwargs["metavar"] = spec["name"].upper()
                if spec["choices"]:
                    kwargs["choices"] = spec["choices"]
            if spec["default"] not in ("", None):
                kwargs["help"] += f" (default: {spec['default']})"
            groups[spec["group"]].add_argument(flag, **kwargs)
        return parser

    @classmethod
    def from_cli(cls, argv: list[str] | None = None) -> "TrainConfig":
        """Parse CLI flags (on top of --config when given) and validate; paths are checked by the script."""
        parsed = vars(cls.arg_parser().parse_args(argv))
        base = cls.from_json(parsed.pop("config")) if parsed.get("config") else cls()
        parsed.pop("config", None)
        return dataclasses.replace(base, **parsed).validate(check_paths=False)


def field_specs() -> list[dict[str, Any]]:
    """One dict per setting, in form order: name, type, default, label, help, min, max, choices, group."""
    specs = []
    for f in dataclasses.fields(TrainConfig):
        type_name = f.type if isinstance(f.type, str) else f.type.__name__
        specs.append({"name": f.name, "type": type_name, "default": f.default,
                      "label": f.metadata["label"] or f.name, "help": f.metadata["help"],
                      "min": f.metadata["min"], "max": f.metadata["max"], "choices": f.metadata["choices"],
                      "group": f.metadata["group"], "advanced": f.metadata["advanced"]})
    return specs


QUICK_DEMO_DATASET = "quick-demo-dynamodb"


def quick_demo_dataset_dir(settings: Settings | None = None) -> Path:
    """The quick demo's dataset: the preset points where `data.ensure_quick_demo_dataset` builds it."""
    return (settings or get_settings()).datasets_dir / QUICK_DEMO_DATASET


def quick_demo(settings: Settings | None = None, dataset: str | Path | None = None) -> TrainConfig:
    """The CPU preset: the embedded model on the DynamoDB pages (11 pages, ~12k tokens).

    With this recipe (r=16, lr 3e-4, 4 x 256 blocks, 55 steps) the page perplexity of the trained page
    `aws_dynamodb_contributor_insights` drops from ~6 to ~2 and the model starts writing the resource.
    Two of the 11 pages (`dynamodb_tag`, `dynamodb_table_replica`: the page split is a stable hash of the
    path) are held out, so the plot has an eval curve and the Doc-completion tab has a page the run never
    saw for a fair perplexity test next to a trained one (the forgetting story). The demo is mostly
    memorisation of one service's docs, so the learning rate stays constant after a short warmup and
    there is no LoRA dropout (a cosine decay halves the total update of such a short run).
    """
    settings = settings or get_settings()
    if dataset is None:
        dataset = quick_demo_dataset_dir(settings)
    return TrainConfig(dataset=str(dataset), subcategory="DynamoDB", model=EMBEDDED_DEFAULT_MODEL, seq_len=256,
                       lora_r=16, lora_alpha=32.0, lora_dropout=0.0, lr=3e-4, batch_size=4, grad_accum=1,
                       max_steps=55, warmup_steps=3, scheduler="constant", eval_fraction=QUICK_DEMO_EVAL_FRACTION,
                       eval_every=10, eval_max_batches=4, save_every=0, log_every=1, run_name="")


def _format_value(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _coerce(raw: Any, spec: dict[str, Any]) -> Any:
    """Turn a form value into the field's type, or raise ConfigError naming the field."""
    kind = spec["type"]
    if kind == "str":
        return "" if is_blank(raw) else str(raw).strip()
    if kind == "bool":
        if is_blank(raw):
            return False
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{_label(spec)}: {raw!r} is not true or false.")
    return _parse_number_field(raw, spec)


def _label(spec: dict[str, Any]) -> str:
    """The form label with the CLI/config name, so either kind of user finds the setting."""
    return f"{spec['label']} ({spec['name']})"


def _parse_number_field(value: Any, spec: dict[str, Any]) -> int | float:
    """One numeric setting checked against its bounds; shared by the form and validate() (CLI, config.json)."""
    return parse_number(_label(spec), value, low=spec["min"], high=spec["max"], integer=spec["type"] == "int")
