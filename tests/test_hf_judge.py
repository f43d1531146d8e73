"""The hf-judge evaluator on a tiny random Llama: probabilities, both orders, batching, prefix cache, identity."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rlaif_audit.default_plugins.evaluators.hf_judge import HFJudge, PromptBuilder
from rlaif_audit.judging.rubric import load_principles, load_template
from rlaif_audit.errors import ConfigError, InputError
from rlaif_audit.judging.labeling import judge_items
from rlaif_audit.records.types import JudgeItem, PreferencePair


def make_pairs(n: int = 5) -> list[PreferencePair]:
    """Pairs of varied lengths, one with an empty context and one with an empty response."""
    pairs = []
    for i in range(n):
        context = [] if i == 0 else [{"role": "user", "content": "Tell me about rivers. " * (1 + 3 * i)}]
        if i == 2:
            context += [{"role": "assistant", "content": "Which river?"}, {"role": "user", "content": "The Nile."}]
        answer = "" if i == 1 else "It is long. " * (1 + 2 * i)
        pairs.append(PreferencePair(f"p{i}", context, answer, "I cannot help with that." * (i % 3 + 1)))
    return pairs


@pytest.fixture(scope="module")
def reference(tiny_model: str) -> dict[tuple[str, str], float]:
    """p_first per item from whole-prompt forwards one item at a time (no padding, no cache)."""
    judge = HFJudge(model=tiny_model, batch_size=1, share_prefix=False)
    return {(j.pair_id, j.order): j.p_first for j in judge.judge(judge_items(make_pairs()))}


def test_both_orders_give_probabilities_and_label_mass(tiny_model: str) -> None:
    items = judge_items(make_pairs())
    judgments = list(HFJudge(model=tiny_model).judge(items))
    assert sorted((j.pair_id, j.order) for j in judgments) == sorted((i.pair_id, i.order) for i in items)
    for judgment in judgments:
        raw = json.loads(judgment.raw)
        assert judgment.parse_status == "ok" and 0.0 <= judgment.p_first <= 1.0
        assert judgment.verdict == ("first" if judgment.p_first > 0.5 else "second")
        assert 0.0 < raw["label_mass"] <= 1.0
        assert math.isclose(judgment.p_first, raw["p_A"] / (raw["p_A"] + raw["p_B"]), rel_tol=1e-5)
        assert judgment.evaluator == "hf-judge" and judgment.evaluator_id


def test_p_first_matches_a_plain_full_forward(tiny_model: str) -> None:
    """The label probabilities equal softmax of the full model's logits at the last prompt position."""
    import torch

    judge = HFJudge(model=tiny_model)
    judge.load()
    item = judge_items(make_pairs())[5]
    ids = judge.builder.encode(item).ids
    with torch.inference_mode():
        logits = judge.scorer.model(torch.tensor([ids])).logits[0, -1].float()
    a_id, b_id = judge.scorer.label_ids
    expected = torch.softmax(logits[[a_id, b_id]], -1)[0].item()
    (judgment,) = judge.judge([item])
    assert judgment.p_first == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize(("share_prefix", "batch_size"), [(False, 3), (False, 64), (True, 1), (True, 2), (True, 5)])
def test_batching_and_prefix_cache_lose_nothing_and_change_nothing(
    tiny_model: str, reference: dict[tuple[str, str], float], share_prefix: bool, batch_size: int
) -> None:
    items = judge_items(make_pairs())
    judge = HFJudge(model=tiny_model, batch_size=batch_size, share_prefix=share_prefix)
    judgments = list(judge.judge(items))
    keys = [(j.pair_id, j.order) for j in judgments]
    assert sorted(keys) == sorted(reference) and len(set(keys)) == len(keys)
    for judgment in judgments:
        assert judgment.p_first == pytest.approx(reference[(judgment.pair_id, judgment.order)], abs=1e-5)


def test_prefix_cache_computes_fewer_tokens(tiny_model: str) -> None:
    items = judge_items(make_pairs())
    shared, plain = HFJudge(model=tiny_model, share_prefix=True), HFJudge(model=tiny_model, share_prefix=False)
    list(shared.judge(items))
    list(plain.judge(items))
    prompt_tokens = sum(len(plain.builder.encode(item).ids) for item in items)
    assert plain.scorer.tokens_computed == prompt_tokens
    assert shared.scorer.tokens_computed < 0.75 * prompt_tokens


def test_one_order_alone_and_repeated_items(tiny_model: str, reference: dict[tuple[str, str], float]) -> None:
    items = judge_items(make_pairs())
    subset = [items[3], items[3], items[6]]
    judgments = list(HFJudge(model=tiny_model, batch_size=4).judge(subset))
    assert sorted((j.pair_id, j.order) for j in judgments) == sorted([("p1", "ba"), ("p1", "ba"), ("p3", "ab")])
    for judgment in judgments:
        assert judgment.p_first == pytest.approx(reference[(judgment.pair_id, judgment.order)], abs=1e-5)


def test_both_orders_share_the_prompt_prefix(tiny_model: str) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    builder = PromptBuilder(tokenizer, load_template(None), load_principles(None), 2048)
    ab, ba = (builder.encode(item) for item in judge_items(make_pairs())[4:6])
    assert ab.head == ba.head and ab.middle == ba.middle and ab.suffix != ba.suffix
    assert len(ab.ids) == len(ba.ids)
    text = tokenizer.decode(ab.ids)
    assert text.index("Tell me about rivers") < text.index("Response A:") < text.index("Response B:")
    assert text.endswith("<|im_start|>assistant\n")


def test_truncation_cuts_the_conversation_and_is_recorded(tiny_model: str) -> None:
    pair = PreferencePair("long", [{"role": "user", "content": "Why is the sky blue? " * 200}], "Rayleigh.", "No idea.")
    judgments = list(HFJudge(model=tiny_model, max_length=400).judge(judge_items([pair])))
    for judgment in judgments:
        raw = json.loads(judgment.raw)
        assert judgment.parse_status == "ok" and raw["tokens"] == 400 and raw["truncated_tokens"] > 0


def test_responses_are_never_truncated(tiny_model: str) -> None:
    pair = PreferencePair("huge", [{"role": "user", "content": "Hi"}], "word " * 500, "ok")
    judgments = list(HFJudge(model=tiny_model, max_length=300).judge(judge_items([pair])))
    assert [j.parse_status for j in judgments] == ["failed", "failed"]
    assert all(j.p_first is None and "never truncated" in json.loads(j.raw)["error"] for j in judgments)


def test_identity_follows_template_principles_and_max_length(tiny_model: str, tmp_path: Path) -> None:
    template = tmp_path / "rubric.txt"
    template.write_text("Context:\n{conversation}\nA: {first}\nB: {second}\nBetter (A or B)?")
    principles = tmp_path / "constitution.txt"
    principles.write_text("# comment\nBe kind.\n\nBe brief.\n")
    base = HFJudge(model=tiny_model).identity_hash()
    assert HFJudge(model=tiny_model, batch_size=7, share_prefix=False).identity_hash() == base
    assert HFJudge(model=tiny_model, template=str(template)).identity_hash() != base
    assert HFJudge(model=tiny_model, principles=str(principles)).identity_hash() != base
    assert HFJudge(model=tiny_model, principles=str(principles)).principles == ["Be kind.", "Be brief."]
    assert HFJudge(model=tiny_model, max_length=512).identity_hash() != base
    identity = HFJudge(model=tiny_model).identity()
    assert len(identity["weights_sha256"]) == 64 and identity["labels"] == ["A", "B"]


def p_firsts(judge: HFJudge, items: list[JudgeItem]) -> dict[tuple[str, str], float]:
    return {(j.pair_id, j.order): j.p_first for j in judge.judge(items)}


def test_a_custom_template_judges_the_same_packed_or_not(tiny_model: str, tmp_path: Path) -> None:
    template = tmp_path / "rubric.txt"
    template.write_text("A: {first}\nB: {second}\nAbout: {conversation}\nLiteral {{braces}}. Better?")
    items = judge_items(make_pairs(3))
    judge = HFJudge(model=tiny_model, template=str(template))
    packed = p_firsts(judge, items)
    plain = p_firsts(HFJudge(model=tiny_model, template=str(template), share_prefix=False), items)
    assert judge.builder.encode(items[0]).middle == []  # the responses come first: only the head is shared
    assert sorted(packed) == sorted(plain)
    assert all(packed[key] == pytest.approx(plain[key], abs=1e-5) for key in plain)
    assert "Literal {braces}." in judge.builder.tokenizer.decode(judge.builder.encode(items[0]).ids)


def test_a_model_without_chat_template_or_shared_head(tiny_model: str, tmp_path: Path) -> None:
    folder = tmp_path / "plain-lm"
    shutil.copytree(tiny_model, folder)
    (folder / "chat_template.jinja").unlink()
    template = tmp_path / "rubric.txt"
    template.write_text("{conversation}\nResponse A: {first}\nResponse B: {second}\nBetter:")
    items = judge_items(make_pairs(3))
    judge = HFJudge(model=str(folder), template=str(template))
    packed = p_firsts(judge, items)
    assert judge.builder.head == []
    assert judge.builder.tokenizer.decode(judge.builder.encode(items[2]).ids).endswith("Better:\n")
    plain = p_firsts(HFJudge(model=str(folder), template=str(template), share_prefix=False), items)
    assert all(packed[key] == pytest.approx(plain[key], abs=1e-5) for key in plain)


@pytest.mark.parametrize(
    ("text", "message"),
    [("{first} {second}", "missing slot"), ("{conversation} {first} {second} {answer}", "unknown slot"),
     ("{conversation} {first} {second} {", "literal brace")],
)
def test_bad_templates_are_named(tiny_model: str, tmp_path: Path, text: str, message: str) -> None:
    template = tmp_path / "bad.txt"
    template.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        HFJudge(model=tiny_model, template=str(template))
    assert info.value.path == str(template) and info.value.field == "template"


def test_bad_options_are_named(tiny_model: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the template file"):
        HFJudge(model=tiny_model, template=str(tmp_path / "absent.txt"))
    with pytest.raises(InputError, match="no principles"):
        (tmp_path / "empty.txt").write_text("\n# nothing\n")
        HFJudge(model=tiny_model, principles=str(tmp_path / "empty.txt"))
    with pytest.raises(ConfigError, match="batch_size"):
        HFJudge(model=tiny_model, batch_size="0")
    with pytest.raises(ConfigError, match="Valid options"):
        HFJudge(model=tiny_model, temperature="1")


def test_registered_as_a_builtin_plugin(pm) -> None:  # noqa: ANN001 - pytest fixture
    from rlaif_audit.host import evaluators

    assert evaluators(pm).get("hf-judge") is HFJudge


def test_plugin_modules_do_not_import_torch() -> None:
    code = (
        "import sys, rlaif_audit.default_plugins.evaluators.hf_judge, rlaif_audit.default_plugins.evaluators.reward_model, "
        "rlaif_audit.judging.models; heavy = [m for m in ('torch', 'transformers') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_judge_item_order_is_the_shown_order(tiny_model: str) -> None:
    """'ab' shows a first; the prompt's Response A is the item's first response."""
    judge = HFJudge(model=tiny_model)
    judge.load()
    item = JudgeItem("x", "ba", [{"role": "user", "content": "Q"}], "FIRST-TEXT", "SECOND-TEXT")
    text = judge.builder.tokenizer.decode(judge.builder.encode(item).ids)
    assert text.index("Response A:\nFIRST-TEXT") < text.index("Response B:\nSECOND-TEXT")


def tiny_variant(tmp_path: Path, tiny_model: str, kind: str) -> str:
    """A tiny random causal LM of another architecture, with the tiny Llama's tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    shape = dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, head_dim=16, pad_token_id=tokenizer.pad_token_id)
    extra = {"qwen2": {}, "gemma2": {"attn_logit_softcapping": 50.0},
             "mistral": {"sliding_window": 160}}[kind]
    config = AutoConfig.for_model(kind, **shape, **extra)
    torch.manual_seed(0)
    folder = tmp_path / kind
    AutoModelForCausalLM.from_config(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return str(folder)


def long_pairs() -> list[PreferencePair]:
    """make_pairs() and one pair whose prompt is longer than 160 tokens (the tiny Mistral's sliding window)."""
    context = [{"role": "user", "content": "Tell me everything about the rivers of Europe, one by one. " * 12}]
    return [*make_pairs(), PreferencePair("long", context, "The Danube.", "No.")]


@pytest.mark.parametrize(("kind", "shares"), [("qwen2", True), ("gemma2", False), ("mistral", None)])
def test_other_architectures_share_prefixes_or_fall_back_to_whole_prompts(
    tiny_model: str, tmp_path: Path, kind: str, shares: bool | None
) -> None:
    """Qwen2 shares prefixes; Gemma2 (softcapping) falls back at load; Mistral with a 160-token sliding window
    shares on the short probe, then falls back at the first longer prompt. Judgments are the same in all cases."""
    import warnings

    from rlaif_audit.default_plugins.evaluators.hf_judge import PackedScorer, Scorer

    folder = tiny_variant(tmp_path, tiny_model, kind)
    items = judge_items(long_pairs())
    plain = p_firsts(HFJudge(model=folder, share_prefix=False), items)
    judge = HFJudge(model=folder, batch_size=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        judge.load()
        assert isinstance(judge.scorer, PackedScorer) == (shares is not False)
        shared = p_firsts(judge, items)
    messages = [str(w.message) for w in caught if "cannot share prompt prefixes" in str(w.message)]
    assert len(messages) == (0 if shares else 1)
    assert shares is not False or "softcapping" in messages[0]
    assert shares is not None or ("sliding window" in messages[0] and type(judge.scorer) is Scorer)
    assert sorted(shared) == sorted(plain) == sorted((i.pair_id, i.order) for i in items)
    assert all(shared[key] == pytest.approx(plain[key], abs=1e-5) for key in plain)


def test_the_packed_scorer_is_used_and_the_model_keeps_its_attention(tiny_model: str) -> None:
    from rlaif_audit.default_plugins.evaluators.hf_judge import PackedScorer

    judge = HFJudge(model=tiny_model)
    list(judge.judge(judge_items(make_pairs(2))))
    assert isinstance(judge.scorer, PackedScorer) and judge.scorer.batch_size == 8
    assert judge.scorer.model.config._attn_implementation == "sdpa"
