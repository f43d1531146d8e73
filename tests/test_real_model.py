"""The real SmolLM2-135M-Instruct judge: GGUF conversion and hf-judge on a few real pairs (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlaif_audit.judging.labeling import judge_items

pytestmark = pytest.mark.slow


def test_converted_model_matches_the_gguf_model() -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from rlaif_audit.judging.models import load_causal_lm, resolve_model, smollm2_gguf

    folder = resolve_model()
    assert folder == resolve_model("smollm2") == resolve_model(str(smollm2_gguf()))
    assert getattr(AutoConfig.from_pretrained(str(folder)), "quantization_config", None) is None
    model, tokenizer = load_causal_lm(folder)
    assert tokenizer.chat_template and tokenizer.pad_token is not None
    assert [tokenizer.encode(x, add_special_tokens=False) for x in ("A", "B")] == [[49], [50]]
    gguf = smollm2_gguf()
    reference = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    messages = [{"role": "user", "content": "Which is better, A or B?"}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True, return_tensors="pt")
    with torch.inference_mode():
        ours, theirs = model(**ids).logits, reference.eval()(**ids).logits
    assert torch.equal(ours, theirs)


def test_hf_judge_with_smollm2_on_real_pairs(hh_path: Path) -> None:
    from rlaif_audit.default_plugins.evaluators.hf_judge import HFJudge
    from rlaif_audit.data.pairs import read_pairs

    items = judge_items(read_pairs(str(hh_path), limit=4).pairs)
    shared = {(j.pair_id, j.order): j for j in HFJudge().judge(items)}
    plain = {(j.pair_id, j.order): j for j in HFJudge(share_prefix=False, batch_size=8).judge(items)}
    assert sorted(shared) == sorted(plain) == sorted((i.pair_id, i.order) for i in items)
    for key, judgment in shared.items():
        raw = json.loads(judgment.raw)
        assert judgment.parse_status == "ok" and 0.0 <= judgment.p_first <= 1.0
        assert 0.0 < raw["label_mass"] <= 1.0 and raw["truncated_tokens"] == 0
        assert judgment.p_first == pytest.approx(plain[key].p_first, abs=1e-4)
