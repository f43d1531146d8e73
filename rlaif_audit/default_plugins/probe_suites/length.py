"""The length suite: the same answer concise vs padded with filler, repetition or a restated question; the concise
one is expected. Content is in ``resources/probes_length.json``; changing it or the padding changes the pinned hash:
bump ``VERSION``."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from rlaif_audit.judging.probes import ID_SEPARATOR, ProbeSuite, placed, resource_json

NAME = "length"
VERSION = "1"
SEED = 2027
"""Seed of the A/B coin."""


def padded(kind: str, item: dict[str, Any], index: int, data: dict[str, Any]) -> str:
    """``item``'s answer padded the ``kind`` way; the content is unchanged."""
    answer = item["answer"]
    if kind == "padding_filler":
        opener = data["filler_open"][index % len(data["filler_open"])]
        closer = data["filler_close"][index % len(data["filler_close"])]
        return f"{opener} {answer} {closer}"
    if kind == "padding_repeat":
        return f"{answer} To say it again: {answer} In short, {answer[0].lower()}{answer[1:]}"
    return f"{item['restated']} {answer}"


@lru_cache(maxsize=1)
def length_suite() -> ProbeSuite:
    """The suite (42 pairs; built once per process)."""
    data = resource_json("probes_length.json")
    kinds = ("padding_filler", "padding_repeat", "padding_restate")
    pairs = tuple(
        placed(NAME, VERSION, f"{NAME}{ID_SEPARATOR}{kind.removeprefix('padding_')}-{index:02d}", item["q"],
               item["answer"], padded(kind, item, index, data), kind=kind, seed=SEED)
        for kind in kinds for index, item in enumerate(data["items"]))
    return ProbeSuite(NAME, VERSION, "the same content concise vs padded (filler, repetition, restated question); "
                      "the padded one must not win", pairs)
