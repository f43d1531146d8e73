"""Generator win rates as AlpacaEval (``get_winrate``) and FastChat (``show_result``) compute them, per pair rule."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

from rlaif_audit.records.preference import P_FIRST_OF_VERDICT, pair_p_a

if TYPE_CHECKING:
    import pandas as pd


def alpaca_eval_head2head(preferences: Sequence[float | None]) -> dict[str, Any]:
    """AlpacaEval's ``get_winrate`` on preferences in its encoding (1: baseline wins, 2: model wins, 1.5/0: draw).

    Reproduces ``alpaca_eval.metrics.winrate.get_winrate`` (``AbsoluteScoringRule().describe_head2head`` and, for
    ``discrete_win_rate``, ``ZeroOneScoringRule``), alpaca_eval 0.6.x:
      * 0 is an old encoding of a draw and becomes 1.5; ``n_draws`` counts 1.5 (and 0) before anything is dropped;
      * values outside [1, 2] and NaN are dropped;
      * ``x = preference - 1``; ``win_rate = 100·mean(x)``; ``standard_error = 100·sem(x)`` (sample sd, ddof=1,
        divided by √n); ``n_wins = #(x > 0.5)``, ``n_wins_base = #(x < 0.5)``, ``n_total`` = kept annotations;
      * ``discrete_win_rate``: the same after rounding each preference to 1 or 2 (a draw stays 1.5).
    The 95% CI added here is the normal interval win_rate ± 1.96·standard_error, clipped to [0, 100].
    """
    import numpy as np

    if isinstance(preferences, np.ndarray) and preferences.dtype.kind == "f":
        values = preferences.astype(float, copy=True)
    else:
        values = np.array([np.nan if p is None else float(p) for p in preferences], dtype=float)
    values[values == 0.0] = 1.5
    out = _head2head(values)
    discrete = values.copy()
    decisive = (discrete != 1.5) & ~np.isnan(discrete)
    discrete[decisive] = np.round(discrete[decisive])  # numpy rounds halves to even, as pandas' Series.round
    out["discrete_win_rate"] = _head2head(discrete)["win_rate"]
    return out


def _head2head(values: Any) -> dict[str, Any]:
    import numpy as np

    from rlaif_audit.auditing.stats import Z95

    n_draws = int(np.sum(values == 1.5))
    kept = values[(values >= 1.0) & (values <= 2.0)] - 1.0
    n_total = int(kept.size)
    win_rate = float(kept.mean() * 100) if n_total else None
    sem = float(kept.std(ddof=1) / math.sqrt(n_total) * 100) if n_total > 1 else None
    ci = None if win_rate is None or sem is None else [max(0.0, win_rate - Z95 * sem), min(100.0, win_rate + Z95 * sem)]
    return {"win_rate": win_rate, "standard_error": sem, "ci": ci, "n_wins": int(np.sum(kept > 0.5)),
            "n_wins_base": int(np.sum(kept < 0.5)), "n_draws": n_draws, "n_total": n_total}


def pair_scores_b(judgments: pd.DataFrame, rule: str) -> pd.Series:
    """Per pair, B's score in [0, 1] (1: B better) under a source's own rule; NaN when it cannot be scored.

    A judgment's P(first) is its ``p_first``, else the one its verdict implies (first 1, second 0, tie ½).
    ``alpaca_eval``: the one recorded order, 1 − p_first (= preference − 1).
    ``fastchat``: FastChat ``show_result`` (pairwise): B wins only if both games say so, A likewise; a tie in
    game 1 or games that disagree make a tie (0.5); a game with 'error' drops the match.
    ``rlaif``: 1 − P(A) by the default two-order rule (``records.preference.pair_p_a``: position-debiased where
    both orders carry a probability, the games rule above for verdicts); a pair without both orders is dropped.
    """
    import numpy as np
    import pandas as pd

    verdict = judgments["verdict"] if "verdict" in judgments.columns else pd.Series(None, index=judgments.index)
    implied = verdict.map(P_FIRST_OF_VERDICT).astype(float)
    given = pd.to_numeric(judgments["p_first"], errors="coerce").astype(float)
    p = given.fillna(implied)
    if "parse_status" in judgments.columns:
        p[(judgments["parse_status"] != "ok").to_numpy()] = np.nan
    wide = pd.DataFrame({"pair_id": judgments["pair_id"].astype(str).to_numpy(), "order": judgments["order"].to_numpy(),
                         "p": p.to_numpy(), "prob": (given.notna() & p.notna()).astype(float).to_numpy()}).pivot_table(
        index="pair_id", columns="order", values=["p", "prob"], aggfunc="first", dropna=False)
    ab, ba = (wide["p"].reindex(columns=["ab", "ba"])[order].to_numpy(float) for order in ("ab", "ba"))
    prob_ab, prob_ba = (wide["prob"].reindex(columns=["ab", "ba"])[order].fillna(0).to_numpy(float) > 0
                        for order in ("ab", "ba"))
    if rule == "alpaca_eval":
        score = 1.0 - ab
    elif rule == "fastchat":  # FastChat's verdicts: the games rule whatever the file says of probabilities
        score = 1.0 - pair_p_a(ab, ba, False, False)
    else:
        score = 1.0 - pair_p_a(ab, ba, prob_ab, prob_ba)
    return pd.Series(score, index=wide.index.astype(str), name="score_b")


def _orientations(pairs: pd.DataFrame, rule: str) -> pd.DataFrame:
    """(a, b) → (model, baseline): a generator met in every pair is the baseline; else the source's convention."""
    import pandas as pd

    counts = pairs.groupby(["a", "b"]).size().sort_values(ascending=False)
    generator_sets = [{a, b} for a, b in counts.index]
    everywhere = set.intersection(*generator_sets) if generator_sets else set()
    chosen: dict[frozenset[str], tuple[str, str]] = {}
    for a, b in counts.index:
        key = frozenset({a, b})
        if key not in chosen:
            base = b if rule == "fastchat" else a  # AlpacaEval: generator_1 is the baseline; FastChat: model_2
            if len(everywhere) == 1 and everywhere & key:
                base = next(iter(everywhere))
            chosen[key] = (a if base == b else b, base)
    rows = [(a, b, *chosen[frozenset({a, b})]) for a, b in counts.index]
    return pd.DataFrame.from_records(rows, columns=["a", "b", "model", "baseline"])


def _generator_frame(judgments: pd.DataFrame, generators: pd.DataFrame | dict[str, tuple[Any, Any]],
                     rule: str) -> pd.DataFrame:
    """pair_id, a, b (generator names), optional len_a/len_b, and B's score, for the judged pairs."""
    import pandas as pd

    if isinstance(generators, dict):
        generators = pd.DataFrame({"pair_id": list(generators), "generator_a": [g[0] for g in generators.values()],
                                   "generator_b": [g[1] for g in generators.values()]})
    present = generators["generator_a"].notna() & generators["generator_b"].notna()
    frame = pd.DataFrame({"pair_id": generators["pair_id"].astype(str), "a": generators["generator_a"].astype(str),
                          "b": generators["generator_b"].astype(str)})[present.to_numpy()]
    for column in ("len_a", "len_b", "instruction_difficulty"):
        if column in generators.columns:
            frame[column] = pd.to_numeric(generators[column], errors="coerce")[present.to_numpy()].to_numpy()
    scores = pair_scores_b(judgments, rule)
    where = pd.Index(scores.index.to_numpy(dtype=object)).get_indexer(frame["pair_id"].to_numpy(dtype=object))
    frame = frame[where >= 0].assign(score_b=scores.to_numpy()[where[where >= 0]])
    return frame.reset_index(drop=True)


def _avg_length(lengths: Any) -> dict[str, int]:
    values = [v for v in lengths if v is not None and v == v] if lengths is not None else []
    return {"avg_length": int(sum(values) / len(values))} if values else {}


def _per_generator_row(generator: str, preferences: Any) -> dict[str, Any]:
    row = {"generator": generator, **alpaca_eval_head2head(preferences)}
    row["n_losses"] = row.pop("n_wins_base")
    return row


def _length_controlled(group: pd.DataFrame, difficulty: bool) -> dict[str, Any]:
    """AlpacaEval's length-controlled win rate of one head-to-head group (model vs baseline)."""
    from rlaif_audit.auditing.length_controlled import length_controlled_win_rate

    return length_controlled_win_rate(group["preference"].to_numpy(float), group["model_len"].to_numpy(float),
                                      group["baseline_len"].to_numpy(float),
                                      group["instruction_difficulty"].to_numpy(float) if difficulty else None)


def generator_win_rates(judgments: pd.DataFrame, generators: pd.DataFrame | dict[str, tuple[Any, Any]],
                        rule: str, length_controlled: bool = False) -> dict[str, Any]:
    """Head-to-head win rates (AlpacaEval's get_winrate per model vs baseline) and per-generator rates (FastChat).

    ``generators``: a table with ``pair_id``, ``generator_a``, ``generator_b`` and optionally ``len_a``/``len_b``
    (characters, for AlpacaEval's ``avg_length`` column: int of the mean length of the model's outputs) and
    ``instruction_difficulty``, or a dict pair id → (generator of A, generator of B). ``length_controlled`` adds
    AlpacaEval's length-controlled win rate to each head-to-head row (needs lengths; see
    :mod:`rlaif_audit.auditing.length_controlled`), with the difficulty term when the table has it.
    """
    import numpy as np
    import pandas as pd

    frame = _generator_frame(judgments, generators, rule)
    lengths = "len_a" in frame.columns
    if frame.empty:
        return {"status": "skipped", "reason": "the judged pairs do not name their generators"}
    frame = frame.merge(_orientations(frame, rule), on=["a", "b"], how="left")
    model_is_a = (frame["model"] == frame["a"]).to_numpy()
    frame["preference"] = 1.0 + np.where(model_is_a, 1.0 - frame["score_b"], frame["score_b"])
    if lengths:
        frame["model_len"] = np.where(model_is_a, frame["len_a"], frame["len_b"])
        frame["baseline_len"] = np.where(model_is_a, frame["len_b"], frame["len_a"])
    difficulty = "instruction_difficulty" in frame.columns
    head_rows = [{"generator": model, "baseline": base, **alpaca_eval_head2head(group["preference"].to_numpy()),
                  **_avg_length(group["model_len"].tolist() if lengths else None),
                  **(_length_controlled(group, difficulty) if length_controlled and lengths else {})}
                 for (model, base), group in frame.groupby(["model", "baseline"], sort=False)]
    sides = pd.concat([pd.DataFrame({"generator": frame["b"], "preference": 1.0 + frame["score_b"]}),
                       pd.DataFrame({"generator": frame["a"], "preference": 2.0 - frame["score_b"]})])
    gen_rows = [_per_generator_row(gen, group["preference"].to_numpy())
                for gen, group in sides.groupby("generator", sort=False)]
    by_rate = lambda row: -(row["win_rate"] if row["win_rate"] is not None else -1.0)  # noqa: E731
    return {"status": "ok", "rule": rule, "unit": "percent", "head_to_head": sorted(head_rows, key=by_rate),
            "per_generator": sorted(gen_rows, key=by_rate)}
