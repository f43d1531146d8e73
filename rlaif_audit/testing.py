"""Test helpers for rlaif-audit and its plugins, loaded as a pytest plugin (as tox ships ``tox.pytest``).

Installed rlaif-audit registers this module through the ``pytest11`` entry point ``rlaif_audit``, so a
plugin's tests get the fixtures ``pm`` (a fresh plugin manager), ``tiny_model`` and ``tiny_reward_model``
(folders of tiny random Llamas), ``synthetic_pairs`` and ``synthetic_pair_frames`` (200 pairs with known truth)
without a conftest. The generators of synthetic pairs with known truth (:func:`make_synthetic_pairs`,
:func:`synthetic_frames`) and of the synthetic judge's judgments (:func:`synthetic_judgments`) are plain functions
to import, as are the helpers that test a plugin without installing it: :func:`plugin_manager` (a fresh manager
with plugin objects registered), :func:`judge_pairs` (both orders of every pair, in memory), :func:`suite` (a
registered probe suite) and :func:`run_auditor` (one registered auditor on judgments and pairs, as ``audit`` runs it).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import pytest

from rlaif_audit.records.types import HumanLabel, PreferencePair

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pluggy

    from rlaif_audit.judging.evaluator import Evaluator
    from rlaif_audit.judging.probes import ProbeSuite
    from rlaif_audit.reporting.report import AuditorOutcome

FILLER = "The answer weighs the question with care and explains each step of its reasoning in plain words. " * 80
LIST_BLOCK = "\n- a first point\n- a second point\n- a third point\n"
CATEGORIES = ("advice", "coding", "math", "writing")
SYNTHETIC_EVALUATOR = "synthetic"


# ------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def pm() -> pluggy.PluginManager:
    """A fresh plugin manager (entry points and built-ins loaded), never a global one."""
    from rlaif_audit.host import get_plugin_manager

    return get_plugin_manager()


@pytest.fixture
def synthetic_pairs() -> tuple[list[PreferencePair], list[HumanLabel]]:
    """200 pairs with known quality (seed 0, one annotator) and their human labels (:func:`make_synthetic_pairs`)."""
    return make_synthetic_pairs(200, seed=0)


@pytest.fixture
def synthetic_pair_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same 200 pairs and labels as tables (:func:`synthetic_frames`), for :func:`synthetic_judgments`."""
    return synthetic_frames(200, seed=0)


@pytest.fixture(scope="session")
def tiny_model() -> str:
    """The folder of a tiny random Llama causal LM with a chat template (built once, then cached)."""
    from rlaif_audit.judging import models

    return str(models.tiny_model())


@pytest.fixture(scope="session")
def tiny_reward_model() -> str:
    """The folder of a tiny random Llama sequence-classification reward model (built once, then cached)."""
    from rlaif_audit.judging import models

    return str(models.tiny_reward_model())


# -------------------------------------------------------------------------------------------- pairs and truth


def compose_text(index: int, side: str, length: int, with_list: bool, quality: float) -> str:
    """A synthetic response of about ``length`` characters ending in its quality tag."""
    from rlaif_audit.judging.bias_injection import quality_tag

    head = f"Response {side} to prompt {index}: "
    tail = (LIST_BLOCK if with_list else "") + "\n" + quality_tag(quality)
    return head + FILLER[: max(0, length - len(head) - len(tail))] + tail


def tagged(values: np.ndarray) -> np.ndarray:
    """Qualities rounded exactly as the text tag prints and the judge parses them."""
    import numpy as np

    from rlaif_audit.judging.bias_injection import as_tagged

    return np.array([as_tagged(value) for value in values])


def synthetic_arrays(n: int, seed: int, *, quality_gap: float | None = None, list_rate: float = 0.3,
                     mean_length: float = 300.0) -> dict[str, np.ndarray]:
    """Per-pair truth: qualities (4 decimals, as tagged), target lengths, list flags and category."""
    import numpy as np

    rng = np.random.default_rng([seed, 1])
    if quality_gap is None:
        q_a, q_b = rng.standard_normal(n), rng.standard_normal(n)
    else:
        a_better = rng.random(n) < 0.5
        q_a = np.where(a_better, quality_gap / 2, -quality_gap / 2)
        q_b = -q_a
    lengths = np.exp(rng.normal(math.log(mean_length), 0.7, size=(2, n))).clip(40, 4000).astype(int)
    lists = rng.random((2, n)) < list_rate
    return {"q_a": tagged(q_a), "q_b": tagged(q_b), "target_a": lengths[0], "target_b": lengths[1],
            "list_a": lists[0], "list_b": lists[1], "category": rng.integers(0, len(CATEGORIES), n)}


def human_labels_array(truth: dict[str, np.ndarray], len_a: np.ndarray, len_b: np.ndarray, seed: int, *,
                       n_annotators: int, human_noise: float, human_length_pref: float,
                       human_tie_band: float) -> np.ndarray:
    """Labels (annotators × pairs of a/b/tie): utility Δq + length term + human_noise·Logistic; tie in the band."""
    import numpy as np

    from rlaif_audit.auditing.context import log_length_ratio

    rng = np.random.default_rng([seed, 2])
    utility = truth["q_a"] - truth["q_b"] + human_length_pref * log_length_ratio(len_a, len_b)
    noisy = utility + human_noise * rng.logistic(size=(n_annotators, len(utility)))
    return np.where(noisy > human_tie_band, "a", np.where(noisy < -human_tie_band, "b", "tie"))


def synthetic_frames(n: int, seed: int = 0, *, n_annotators: int = 1, human_noise: float = 1.0,
                     human_length_pref: float = 0.0, human_tie_band: float = 0.0, quality_gap: float | None = None,
                     list_rate: float = 0.3, mean_length: float = 300.0, id_prefix: str = "syn",
                     with_context: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Vectorised pairs (``pair_id``, ``a``, ``b``, ``context``, metadata columns) and labels as DataFrames."""
    import numpy as np
    import pandas as pd

    truth = synthetic_arrays(n, seed, quality_gap=quality_gap, list_rate=list_rate, mean_length=mean_length)
    a = [compose_text(i, "A", t, bool(li), q) for i, (t, li, q) in
         enumerate(zip(truth["target_a"], truth["list_a"], truth["q_a"]))]
    b = [compose_text(i, "B", t, bool(li), q) for i, (t, li, q) in
         enumerate(zip(truth["target_b"], truth["list_b"], truth["q_b"]))]
    ids = [f"{id_prefix}-{i:07d}" for i in range(n)]
    pairs = pd.DataFrame({"pair_id": ids, "a": a, "b": b, "quality_a": truth["q_a"], "quality_b": truth["q_b"],
                          "category": np.array(CATEGORIES)[truth["category"]]})
    if with_context:
        pairs.insert(1, "context", [[{"role": "user", "content": f"Synthetic prompt {i}"}] for i in range(n)])
    labels = human_labels_array(truth, pairs["a"].str.len().to_numpy(), pairs["b"].str.len().to_numpy(), seed,
                                n_annotators=n_annotators, human_noise=human_noise,
                                human_length_pref=human_length_pref, human_tie_band=human_tie_band)
    label_frame = pd.DataFrame({"pair_id": np.tile(ids, n_annotators), "preferred": labels.ravel(),
                                "annotator": np.repeat([f"h{k}" for k in range(n_annotators)], n)})
    return pairs, label_frame


def make_synthetic_pairs(n: int, seed: int = 0, **options: Any) -> tuple[list[PreferencePair], list[HumanLabel]]:
    """``n`` pairs whose truth is known (metadata quality_a/quality_b/category) and their human labels.

    ``options``: ``n_annotators`` (1), ``human_noise`` (1.0: annotators prefer A with probability
    σ(Δu / human_noise)), ``human_length_pref`` (0.0), ``human_tie_band`` (0.0), ``quality_gap`` (None:
    qualities N(0, 1); a number: one response better by exactly that gap), ``list_rate`` (0.3),
    ``mean_length`` (300 characters, log-normal).
    """
    pairs_df, labels_df = synthetic_frames(n, seed, **options)
    pairs = [PreferencePair(id=row.pair_id, context=row.context, a=row.a, b=row.b,
                            metadata={"quality_a": float(row.quality_a), "quality_b": float(row.quality_b),
                                      "category": row.category})
             for row in pairs_df.itertuples(index=False)]
    labels = [HumanLabel(pair_id=row.pair_id, preferred=row.preferred, annotator=row.annotator)
              for row in labels_df.itertuples(index=False)]
    return pairs, labels


def write_synthetic_pairs(path: Path | str, n: int, seed: int = 0, **options: Any) -> Path:
    """:func:`make_synthetic_pairs` as a pairs file `label` and `audit` read (one annotator: ``preferred``)."""
    from rlaif_audit.records.fileio import write_jsonl

    pairs, labels = make_synthetic_pairs(n, seed, **options)
    by_pair = {label.pair_id: label for label in labels}
    write_jsonl(path, [{"id": p.id, "context": p.context, "a": p.a, "b": p.b, "preferred": by_pair[p.id].preferred,
                        "annotator": by_pair[p.id].annotator, "metadata": p.metadata} for p in pairs])
    return Path(path)


# ------------------------------------------------------------------------------------------------- judgments


def synthetic_judgments(pairs: pd.DataFrame, config: dict[str, Any] | None = None, evaluator_id: str = "",
                        plugin_manager: pluggy.PluginManager | None = None) -> pd.DataFrame:
    """Both orders of every pair judged at once (the same numbers the ``synthetic`` evaluator gives)."""
    import numpy as np
    import pandas as pd

    from rlaif_audit.auditing.context import has_list
    from rlaif_audit.host import make_evaluator
    from rlaif_audit.judging.bias_injection import judge_arrays

    evaluator = make_evaluator(SYNTHETIC_EVALUATOR, config or {}, plugin_manager)
    n = len(pairs)
    quality = (pairs["quality_a"].to_numpy(float), pairs["quality_b"].to_numpy(float))
    lengths = (pairs["a"].str.len().to_numpy(), pairs["b"].str.len().to_numpy())
    lists = (has_list(pairs["a"]), has_list(pairs["b"]))
    ids = np.concatenate([pairs["pair_id"].to_numpy(), pairs["pair_id"].to_numpy()])
    orders = np.repeat(np.array(["ab", "ba"]), n)
    swap: Callable[[tuple[np.ndarray, np.ndarray], int], np.ndarray] = (
        lambda both, side: np.concatenate([both[side], both[1 - side]]))
    p_first, verdict, failed, _ = judge_arrays(ids, orders, swap(quality, 0), swap(quality, 1), swap(lengths, 0),
                                               swap(lengths, 1), swap(lists, 0), swap(lists, 1), evaluator.config)
    return pd.DataFrame({
        "pair_id": ids, "order": orders, "p_first": np.where(failed, np.nan, p_first),
        "verdict": pd.Series(verdict, dtype=object).where(~failed, None),
        "parse_status": np.where(failed, "failed", "ok"), "raw": None, "latency_s": 0.0,
        "evaluator": evaluator.name, "evaluator_id": evaluator_id,
    })



# ------------------------------------------------------------------------------------- plugins under test


def plugin_manager(*plugins: object, load_entry_points: bool = True) -> pluggy.PluginManager:
    """A fresh manager with ``plugins`` (modules, classes or instances with hookimpls) registered, each under its
    ``__name__`` or class name: a plugin's hooks can be tested before the package is installed."""
    from rlaif_audit.host import get_plugin_manager

    pm = get_plugin_manager(load_entry_points=load_entry_points)
    for plugin in plugins:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        if pm.get_plugin(name) is None:
            pm.register(plugin, name=name)
    pm.check_pending()
    return pm


def judge_pairs(evaluator: Evaluator, pairs: Sequence[PreferencePair]) -> pd.DataFrame:
    """Both orders of every pair judged by ``evaluator`` in memory: one row per judgment (the judgment fields)."""
    import pandas as pd

    from rlaif_audit.judging.labeling import judge_items

    return pd.DataFrame([judgment.to_dict() for judgment in evaluator.judge(judge_items(pairs))])


def suite(pm: pluggy.PluginManager, name: str) -> ProbeSuite:
    """The probe suite registered as ``name``; an error naming the registered ones otherwise."""
    from rlaif_audit.host import probe_suites

    return probe_suites(pm).get(name)


def run_auditor(pm: pluggy.PluginManager, name: str, judgments: pd.DataFrame, pairs: Sequence[PreferencePair],
                labels: Sequence[HumanLabel] = (), *, compare: pd.DataFrame | None = None, seed: int = 0,
                n_bootstrap: int = 500, **options: Any) -> AuditorOutcome:
    """The registered auditor ``name`` run on validated judgments and pairs as ``rlaif-audit audit`` runs it
    (requirements checked, a raising auditor recorded as ``error``); ``compare``: a second judgment table."""
    from rlaif_audit.auditing.context import build_context
    from rlaif_audit.auditing.runner import run_auditors

    ctx = build_context(judgments, list(pairs), list(labels), seed=seed, n_bootstrap=n_bootstrap, options=options,
                        compare=compare)
    return run_auditors(ctx, pm, [name])[name]


# ------------------------------------------------------------------------------------------ known-truth PPI


def biased_judge_sample(n_seeds: int, n_labeled: int, n_unlabeled: int, seed: int = 0, *, bias: float = 0.8,
                        shift: float = 0.3, slope: float = 1.5, noise: float = 0.0) -> dict[str, Any]:
    """Simulated human labels and a biased judge's P(A) for ``n_seeds`` independent audits at once.

    Per pair the quality gap is ``z ~ N(shift, 1)``; a human prefers A with probability σ(2z) (binary label);
    the judge reports P(A) = σ(slope·z + bias + noise·ε), ε ~ N(0, 1), so it over-prefers A (large noise: a
    judge whose P(A) varies with things humans ignore). Returns ``truth`` (the population win rate
    E[σ(2z)], by 80-node Gauss–Hermite quadrature), ``y`` and ``f`` (``n_seeds × n_labeled``: human label and
    judge P(A) on the labelled pairs) and ``f_unlabeled`` (``n_seeds × n_unlabeled``).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    z = rng.normal(shift, 1.0, size=(n_seeds, n_labeled + n_unlabeled))
    human = (rng.random(size=z.shape) < 1.0 / (1.0 + np.exp(-2.0 * z))).astype(float)
    judge = 1.0 / (1.0 + np.exp(-(slope * z + bias + noise * rng.normal(size=z.shape))))
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    truth = float(np.sum(weights / (1.0 + np.exp(-2.0 * (shift + nodes)))) / np.sqrt(2.0 * np.pi))
    return {"truth": truth, "y": human[:, :n_labeled], "f": judge[:, :n_labeled],
            "f_unlabeled": judge[:, n_labeled:]}


ZIPF_VOCABULARY = 30
"""Words of the simulated policies' vocabulary (word indices 0 … 29)."""


def zipf_prompt_cdfs(rng: np.random.Generator, n_prompts: int, vocabulary: int = ZIPF_VOCABULARY) -> np.ndarray:
    """A Zipf word distribution per prompt (exponent uniform in [0.5, 1.5]) as cumulative shares ``(n_prompts, V)``:
    the known-truth policies of the diversity tests and bench/policy_coverage.py."""
    import numpy as np

    exponents = rng.uniform(0.5, 1.5, n_prompts)
    weights = np.arange(1, vocabulary + 1)[None, :] ** -exponents[:, None]
    return np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)


def draw_words(rng: np.random.Generator, cdf: np.ndarray, samples: int, length: int) -> np.ndarray:
    """Words i.i.d. from each prompt's distribution: ``(n_prompts, samples, length)`` word indices."""
    import numpy as np

    uniform = rng.uniform(size=(len(cdf), samples, length))
    return np.minimum((uniform[..., None] > cdf[:, None, None, :]).sum(axis=-1), cdf.shape[1] - 1)
