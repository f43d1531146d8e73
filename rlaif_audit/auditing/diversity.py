"""Text diversity measures of policy samples: distinct-n, unigram entropy, expected distinct counts (for EAD),
sentence BLEU and Self-BLEU, word-level edit similarity. Pure functions of token tuples; the policy auditors
combine them per prompt (default_plugins/auditors/policy.py) and their definitions are in docs/audit.md."""

from __future__ import annotations

import math
from collections import Counter
from difflib import SequenceMatcher
from functools import lru_cache
from typing import Sequence

import numpy as np

Tokens = tuple[str, ...]
"""A text as lower-cased whitespace words."""


@lru_cache(maxsize=65536)
def words(text: str) -> Tokens:
    """Lower-cased whitespace tokens (tokenizer-free, so policies with different tokenizers compare)."""
    return tuple(text.lower().split())


def ngrams(tokens: Tokens, n: int) -> list[Tokens]:
    """The word n-grams of a token tuple, in order."""
    return [tokens[i : i + n] for i in range(len(tokens) - n + 1)]


def distinct_counts(texts: Sequence[Tokens], n: int) -> tuple[float, float]:
    """Distinct and total word n-grams pooled over the texts (the two counts of distinct-n)."""
    grams = [gram for tokens in texts for gram in ngrams(tokens, n)]
    return float(len(set(grams))), float(len(grams))


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct-n (Li et al. 2016): unique n-grams / all n-grams, pooled over the texts (NaN without n-grams)."""
    unique, total = distinct_counts([words(text) for text in texts], n)
    return unique / total if total else math.nan


def entropy_of(tokens: Sequence[str]) -> float:
    """Shannon entropy (bits) of the tokens' empirical distribution: log₂ T − Σ c·log₂ c / T (NaN if none)."""
    counts = np.fromiter(Counter(tokens).values(), dtype=float)
    total = counts.sum()
    return float(np.log2(total) - np.sum(counts * np.log2(counts)) / total) if len(counts) else math.nan


def unigram_entropy(texts: Sequence[str]) -> float:
    """Shannon entropy (bits) of the pooled unigram distribution of the texts."""
    return entropy_of([word for text in texts for word in words(text)])


def expected_distinct(total: float, vocabulary: float) -> float:
    """Expected distinct n-grams in ``total`` draws from ``vocabulary`` equiprobable ones: V·[1 − ((V−1)/V)^C]."""
    return vocabulary * -math.expm1(total * math.log1p(-1 / vocabulary)) if vocabulary > 1 else min(total, 1.0)


def bleu(hypothesis: Tokens, references: Sequence[Tokens], max_n: int = 4, epsilon: float = 0.1) -> float:
    """Sentence BLEU-``max_n`` (Papineni et al. 2002) of a hypothesis against several references.

    Clipped n-gram precisions with uniform weights, brevity penalty against the reference length closest to
    the hypothesis (the shorter on a tie); an order without matches counts ``epsilon`` matches (Chen &
    Cherry 2014 method 1), and no unigram match gives 0 — nltk's ``sentence_bleu`` with
    ``SmoothingFunction().method1``, which tests/test_diversity.py checks it against.
    """
    log_precision = 0.0
    for n in range(1, max_n + 1):
        counts = Counter(ngrams(hypothesis, n))
        most: Counter[Tokens] = Counter()
        for reference in references:
            for gram, count in Counter(ngrams(reference, n)).items():
                most[gram] = max(most[gram], count)
        matched = sum(min(count, most[gram]) for gram, count in counts.items())
        if n == 1 and matched == 0:
            return 0.0
        log_precision += math.log((matched or epsilon) / max(1, sum(counts.values()))) / max_n
    length = len(hypothesis)
    closest = min((len(reference) for reference in references), key=lambda size: (abs(size - length), size))
    penalty = 1.0 if length > closest else math.exp(1 - closest / length)
    return penalty * math.exp(log_precision)


@lru_cache(maxsize=16384)
def self_bleu_sum(texts: tuple[Tokens, ...]) -> float:
    """Σ over the texts of each one's BLEU-4 with all the others as references (Self-BLEU's summands)."""
    return sum(bleu(text, texts[:i] + texts[i + 1 :]) for i, text in enumerate(texts))


def self_bleu(texts: Sequence[str]) -> float:
    """Self-BLEU (Zhu et al. 2018, Texygen): mean BLEU-4 of each text against the others as references."""
    tokens = tuple(words(text) for text in texts)
    return self_bleu_sum(tokens) / len(tokens) if len(tokens) >= 2 else math.nan


@lru_cache(maxsize=65536)
def edit_similarity(first: Tokens, second: Tokens) -> float:
    """Word-level difflib ratio of two texts (cached: a side's own metric and the change reuse the same pairs)."""
    return SequenceMatcher(None, first, second, autojunk=False).ratio()
