"""The generator win-rate auditor: AlpacaEval/FastChat win rates of the generators the pairs name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rlaif_audit.auditing.auditor import AuditContext, Auditor, AuditResult

if TYPE_CHECKING:
    import pandas as pd

    from rlaif_audit.reporting.report import HeadlineRow

HEADLINE_ROWS = 3  # head-to-head rows shown in the report's headline
GENERATOR_COLUMNS = ("pair_id", "generator_a", "generator_b", "len_a", "len_b")


class WinRatesAuditor(Auditor):
    """Win rate of each generator against its baseline (AlpacaEval ``get_winrate``) and against all (FastChat).

    Fills the report's top-level ``generators`` section: ``rule`` (``rlaif``, ``alpaca_eval`` or ``fastchat``,
    from ``ctx.options['source_format']``), ``unit`` (percent), ``head_to_head`` and ``per_generator`` rows with
    AlpacaEval's fields and a 95% CI; the first three head-to-head rows join the headline.
    """

    name = "win-rates"
    description = "Generator win rates (AlpacaEval get_winrate per baseline; FastChat pairwise-all)"
    requires = ("generators",)
    section = "generators"
    method_notes = (
        "Generator win rates follow AlpacaEval's get_winrate: 100·mean(preference − 1) with a tie counting half, "
        "standard error = 100·sem (ddof = 1), 95% CI = win rate ± 1.96·SE; FastChat matches count as a win only "
        "when both games agree (FastChat show_result), and rlaif-audit judgments follow the default two-order rule "
        "(position-debiased with probabilities in both orders, the same games rule for verdicts).",
        "Length-controlled win rate: AlpacaEval's GLM (Dubois et al. 2024, alpaca_eval metrics/glm_winrate.py) "
        "fitted per model vs baseline on tanh(standardised length difference), the instruction difficulty "
        "(--instruction-difficulty) and a constant, predicted at equal length; without difficulties the GLM has no "
        "difficulty term (length_controlled_minimal). lc_standard_error is AlpacaEval's spread of the predictions "
        "over instructions, not a confidence interval.",
    )

    def audit(self, ctx: AuditContext) -> AuditResult:
        from rlaif_audit.auditing.head_to_head import generator_win_rates

        rule = str(ctx.options.get("source_format", "rlaif"))
        table = generator_table(ctx)
        difficulty = ctx.options.get("instruction_difficulty")
        statement = add_difficulty(ctx, table, difficulty)
        lengths = {"len_a", "len_b"} <= set(table.columns) and bool(table[["len_a", "len_b"]].notna().all(axis=1).any())
        rates = generator_win_rates(ctx.judgments, table, rule, length_controlled=lengths)
        if rates.get("status") != "ok":
            return AuditResult(status="skipped", reason=rates.get("reason"))
        section = {key: value for key, value in rates.items() if key != "status"}
        section["length_controlled"] = {
            "glm": None if not lengths else ("length_controlled_noreg" if difficulty else "length_controlled_minimal"),
            "instruction_difficulty": getattr(difficulty, "source", None),
            "statement": (statement + "; a model with fewer than 10 parsed annotations gets none (5-fold fit)")
            if lengths else "not computed: the pairs have no response texts (lengths)"}
        section.update(dropped_failed_orders(ctx))
        return AuditResult(section=section, headline=headline_rows(self.section or self.name, rates["head_to_head"]))


def dropped_failed_orders(ctx: AuditContext) -> dict[str, Any]:
    """``{"dropped_pairs": [...]}``: pairs naming their generators left out because an order failed; {} when none."""
    from rlaif_audit.auditing.context import failed_order

    named = (ctx.pairs["generator_a"].notna() & ctx.pairs["generator_b"].notna()).to_numpy()
    dropped = int((failed_order(ctx) & named).sum())
    if not dropped:
        return {}
    return {"dropped_pairs": [{"reason": "an order failed to parse (null verdict)", "pairs": dropped,
                               "left_out_of": "the win rates"}]}


def generator_table(ctx: AuditContext) -> pd.DataFrame:
    """pair_id, generators and lengths per pair; lengths blanked where an import had no response texts."""
    import pandas as pd

    columns = [c for c in GENERATOR_COLUMNS if c in ctx.pairs.columns]
    table = ctx.pairs[columns].copy()
    if "meta_texts_missing" in ctx.pairs.columns and {"len_a", "len_b"} <= set(columns):
        missing = ctx.pairs["meta_texts_missing"].astype("boolean").fillna(False).to_numpy(bool)
        table.loc[missing, ["len_a", "len_b"]] = pd.NA
    return table


def add_difficulty(ctx: AuditContext, table: pd.DataFrame, difficulty: Any) -> str:
    """Add each pair's instruction difficulty to ``table`` (from ``--instruction-difficulty``); say what was used."""
    from rlaif_audit.data.instruction_difficulty import difficulty_per_pair

    if difficulty is None:
        return ("instruction difficulties missing (no --instruction-difficulty FILE): the length-controlled win rate "
                "is fitted WITHOUT the difficulty term (length_controlled_minimal), not AlpacaEval's published GLM")
    instructions = [_instruction(context) for context in ctx.pairs["context"]]
    values, missing = difficulty_per_pair(difficulty, instructions)
    table["instruction_difficulty"] = values
    if missing:
        return (f"{missing} instruction(s) have no difficulty in {difficulty.source}: their models' length-controlled "
                "win rates are not computed")
    return (f"instruction difficulties from {difficulty.source}; AlpacaEval's length_controlled_v1 also regularises "
            "toward its gamed baselines (not available here): this is length_controlled_noreg")


def _instruction(context: Any) -> str | None:
    """The last user message of a pair's context (AlpacaEval's instruction)."""
    if not isinstance(context, list):
        return None
    users = [m.get("content") for m in context if isinstance(m, dict) and m.get("role") == "user"]
    return users[-1] if users and isinstance(users[-1], str) else None


def headline_rows(auditor: str, head_to_head: list[dict[str, Any]]) -> list[HeadlineRow]:
    """The first head-to-head win rates as headline rows (percent, normal 95% CI)."""
    from rlaif_audit.reporting.report import HeadlineRow

    return [HeadlineRow(key=f"win_rate.{row['generator']}.vs.{row['baseline']}", auditor=auditor,
                        metric=f"win rate of {row['generator']} vs {row['baseline']} (%)", value=row["win_rate"],
                        ci=row["ci"], n=row["n_total"], method="AlpacaEval get_winrate; normal 95% CI")
            for row in head_to_head[:HEADLINE_ROWS]]


AUDITORS = (WinRatesAuditor,)
"""The auditors this module defines, registered by the package's plugin."""
