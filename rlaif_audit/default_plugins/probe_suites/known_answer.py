"""The known-answer suite: correct vs wrong arithmetic, unit conversion and facts, a format kept vs broken, the
answer to this prompt vs one to another prompt. Arithmetic and units are generated here; the rest is in
``resources/probes_known_answer.json``. Changing either changes the pinned hash: bump ``VERSION``."""

from __future__ import annotations

import random
from functools import lru_cache

from rlaif_audit.judging.probes import ID_SEPARATOR, ProbeSuite, placed, resource_json

NAME = "known-answer"
VERSION = "1"
SEED = 2026
"""Seed of the generated arithmetic and unit probes and of the A/B coin."""
OPERATORS = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "×": lambda x, y: x * y}
UNITS = (  # from unit, to unit, factor, a plausible wrong factor
    ("kilometres", "metres", 1000, 100), ("metres", "centimetres", 100, 10), ("kilograms", "grams", 1000, 100),
    ("hours", "minutes", 60, 100), ("minutes", "seconds", 60, 100), ("days", "hours", 24, 12),
    ("feet", "inches", 12, 10), ("yards", "feet", 3, 12), ("litres", "millilitres", 1000, 100),
    ("weeks", "days", 7, 5), ("years", "months", 12, 10), ("centuries", "years", 100, 1000),
)


def arithmetic_items(rng: random.Random, n: int = 16) -> list[tuple[str, str, str]]:
    """(question, right answer, wrong answer): the wrong result is off by a small amount, same length or near."""
    items = []
    for index in range(n):
        symbol = "+-×"[index % 3]
        x, y = (rng.randint(12, 99), rng.randint(11, 49)) if symbol == "×" else (rng.randint(120, 999),
                                                                                 rng.randint(101, 119))
        result = OPERATORS[symbol](x, y)
        wrong = result + rng.choice((-10, -2, -1, 1, 2, 10))
        question = f"What is {x} {symbol} {y}?"
        items.append((question, f"{x} {symbol} {y} = {result}.", f"{x} {symbol} {y} = {wrong}."))
    return items


def unit_items(rng: random.Random) -> list[tuple[str, str, str]]:
    """(question, right conversion, conversion with a plausible wrong factor)."""
    items = []
    for source, target, factor, wrong_factor in UNITS:
        amount = rng.randint(2, 9)
        question = f"How many {target} are in {amount} {source}?"
        items.append((question, f"{amount} {source} is {amount * factor} {target}.",
                      f"{amount} {source} is {amount * wrong_factor} {target}."))
    return items


def handwritten_items() -> dict[str, list[tuple[str, str, str]]]:
    """The facts, format and off-prompt probes of the bundled JSON; off-prompt pairs the next question's answer."""
    data = resource_json("probes_known_answer.json")
    off = data["off_prompt"]
    return {
        "fact": [(item["q"], item["right"], item["wrong"]) for item in data["fact"]],
        "format": [(item["q"], item["kept"], item["broken"]) for item in data["format"]],
        "off_prompt": [(item["q"], item["a"], off[(i + 1) % len(off)]["a"]) for i, item in enumerate(off)],
    }


@lru_cache(maxsize=1)
def known_answer_suite() -> ProbeSuite:
    """The suite (60 pairs; built once per process)."""
    rng = random.Random(SEED)
    by_kind = {"arithmetic": arithmetic_items(rng), "unit": unit_items(rng), **handwritten_items()}
    pairs = tuple(
        placed(NAME, VERSION, f"{NAME}{ID_SEPARATOR}{kind}-{index:02d}", question, right, wrong, kind=kind, seed=SEED)
        for kind, items in by_kind.items() for index, (question, right, wrong) in enumerate(items))
    return ProbeSuite(NAME, VERSION, "one response objectively better: arithmetic, unit conversion, a fact, a format "
                      "constraint, the answer to this prompt (not another's)", pairs)
