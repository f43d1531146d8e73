"""The fast sampling path (rlaif_audit.loop.decode): same distribution as transformers' generate, greedy equal."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.stats import chi2_contingency

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from rlaif_audit.loop.decode import Sampling, decode, sample_next

VOCAB, EOS, PAD = 12, 0, 1
PROMPTS = [[2, 5, 7], [3], [4, 9, 10, 11, 6]]


def build_peaked_model(seed: int = 3) -> Any:
    """A one-layer Llama with a 12-token vocabulary and scaled-up logits: top-p cuts at varied widths."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                         tie_word_embeddings=False, bos_token_id=2, eos_token_id=EOS, pad_token_id=PAD)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(40.0)
    return model


@pytest.fixture(scope="module")
def peaked_model() -> Any:
    return build_peaked_model()


def outcomes(rows: list[list[int]], length: int) -> np.ndarray:
    """Per row and position: the token, EOS at the stop, then -1 (ended): a row of ``length`` categories."""
    table = np.full((len(rows), length), -1)
    for index, tokens in enumerate(rows):
        seq = tokens + [EOS] if len(tokens) < length else tokens
        table[index, :len(seq)] = seq[:length]
    return table


def fast_rows(model: Any, settings: Sampling, n: int, seed: int) -> list[list[list[int]]]:
    generator = torch.Generator().manual_seed(seed)
    return decode(model, PROMPTS, n, settings, stop_ids=[EOS], pad_id=PAD, generator=generator)


def generate_rows(model: Any, settings: Sampling, n: int, seed: int, top_p: float | None = None) -> list[list[list[int]]]:
    from rlaif_audit.loop.sampling import _cut, _pad_left

    ids, mask = _pad_left(PROMPTS, PAD)
    torch.manual_seed(seed)
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=mask, do_sample=settings.temperature > 0,
                             temperature=settings.temperature or None, top_p=top_p or settings.top_p,
                             top_k=settings.top_k, max_new_tokens=settings.max_new_tokens, num_return_sequences=n,
                             pad_token_id=PAD, eos_token_id=[EOS])
    rows = [_cut(t, [EOS]) for t in out[:, ids.shape[1]:].tolist()]
    return [rows[i * n:(i + 1) * n] for i in range(len(PROMPTS))]


def smallest_p_value(fast: list[list[list[int]]], reference: list[list[list[int]]], length: int) -> float:
    """The smallest chi-square p-value over prompts × positions of the two samples' token frequencies."""
    p_values = []
    for mine, theirs in zip(fast, reference):
        a, b = outcomes(mine, length), outcomes(theirs, length)
        for position in range(length):
            values = np.union1d(a[:, position], b[:, position])
            table = np.array([[np.sum(x[:, position] == v) for v in values] for x in (a, b)])
            table = table[:, table.sum(axis=0) > 0]
            if table.shape[1] > 1:
                p_values.append(chi2_contingency(table)[1])
    return min(p_values)


SETTINGS = [Sampling(temperature=0.8, top_p=0.9, max_new_tokens=4),
            Sampling(temperature=0.8, top_p=0.9, max_new_tokens=4, prefilter_widths=(2,)),  # most rows: full sort
            Sampling(temperature=0.8, top_p=0.9, max_new_tokens=4, prefilter_widths=(1, 3)),  # three widths used
            Sampling(temperature=1.3, top_p=0.7, top_k=5, max_new_tokens=4),
            Sampling(temperature=1.0, top_p=1.0, max_new_tokens=4)]


@pytest.mark.parametrize("settings", SETTINGS, ids=["top-p", "top-p-full-sort", "top-p-widths", "top-k-top-p", "plain"])
def test_fast_path_token_frequencies_match_generate(peaked_model: Any, settings: Sampling) -> None:
    """Per prompt and position, a chi-square test of 1500 samples each: no p-value below 0.001 / tests."""
    n, length = 1500, settings.max_new_tokens
    fast = fast_rows(peaked_model, settings, n, seed=11)
    reference = generate_rows(peaked_model, settings, n, seed=12)
    tests = len(PROMPTS) * length
    assert smallest_p_value(fast, reference, length) > 1e-3 / tests


def test_the_frequency_test_detects_a_different_top_p(peaked_model: Any) -> None:
    """The same test rejects generate at top_p=0.5 against the fast path at top_p=0.9 (it has power)."""
    settings, n = SETTINGS[0], 1500
    fast = fast_rows(peaked_model, settings, n, seed=11)
    assert smallest_p_value(fast, generate_rows(peaked_model, settings, n, seed=12, top_p=0.5), 4) < 1e-6


def test_greedy_equals_generate_greedy_with_rows_finishing_early(peaked_model: Any) -> None:
    """Greedy decoding equals generate's greedy token for token while rows end at steps 5, 6 and 10."""
    prompts, settings = PROMPTS + [[5, 5, 6, 2]], Sampling(temperature=0, max_new_tokens=10)
    expected = generate_with(peaked_model, prompts, settings, stop_ids=[EOS], pad_id=PAD)
    got = decode(peaked_model, prompts, 1, settings, stop_ids=[EOS], pad_id=PAD, generator=torch.Generator())
    assert got == expected
    assert sorted(len(group[0]) for group in got) == [5, 6, 10, 10]


def test_greedy_equals_generate_greedy_on_the_tiny_model() -> None:
    """The same on the tiny Llama with SmolLM2's tokenizer and vocabulary, prompts of different lengths."""
    from rlaif_audit.judging.models import load_causal_lm, tiny_model

    model, tokenizer = load_causal_lm(tiny_model())
    prompts = [tokenizer.encode(text) for text in ("Hello there", "A much longer prompt about cats and dogs",
                                                   "Why?", "Tell me a story about the sea and the sky")]
    settings = Sampling(temperature=0, max_new_tokens=8)
    expected = generate_with(model, prompts, settings, stop_ids=[tokenizer.eos_token_id], pad_id=tokenizer.pad_token_id)
    got = decode(model, prompts, 1, settings, stop_ids=[tokenizer.eos_token_id], pad_id=tokenizer.pad_token_id,
                 generator=torch.Generator())
    assert got == expected


def generate_with(model: Any, prompts: list[list[int]], settings: Sampling, stop_ids: list[int],
                  pad_id: int) -> list[list[list[int]]]:
    from rlaif_audit.loop.sampling import _cut, _pad_left

    ids, mask = _pad_left(prompts, pad_id)
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=settings.max_new_tokens,
                             pad_token_id=pad_id, eos_token_id=stop_ids)
    return [[_cut(t, stop_ids)] for t in out[:, ids.shape[1]:].tolist()]


def test_same_seed_same_samples_other_seed_other_samples(peaked_model: Any) -> None:
    settings = SETTINGS[0]
    first, again, other = (fast_rows(peaked_model, settings, 20, seed) for seed in (5, 5, 6))
    assert first == again and first != other


def test_sample_next_keeps_exactly_the_nucleus() -> None:
    """Known answer: probs 0.5, 0.3, 0.15, 0.05 with top_p 0.8 keep the first two (0.5 + 0.3 reaches 0.8)."""
    logits = torch.log(torch.tensor([[0.05, 0.5, 0.15, 0.3]])).repeat(4000, 1)
    drawn = sample_next(logits, Sampling(temperature=1.0, top_p=0.8, prefilter_widths=(1, 3)), torch.Generator().manual_seed(0))
    counts = np.bincount(drawn.numpy(), minlength=4)
    assert counts[0] == counts[2] == 0
    assert abs(counts[1] / 4000 - 0.5 / 0.8) < 4 * np.sqrt(0.625 * 0.375 / 4000)
