"""Shared fixtures: rlaif_audit.testing's (fresh plugin manager, tiny models), the shared human-labeled data,
offline Hugging Face."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
HH_HARMLESS = SHARED / "data" / "hh-rlhf-harmless" / "test.jsonl.gz"
TESTING_PLUGIN = "rlaif_audit"  # the name of rlaif_audit.testing's pytest11 entry point


def pytest_configure(config: pytest.Config) -> None:
    """Register rlaif_audit.testing unless its pytest11 entry point already did (an install older than it)."""
    import rlaif_audit.testing

    if not config.pluginmanager.is_registered(rlaif_audit.testing):
        config.pluginmanager.register(rlaif_audit.testing, TESTING_PLUGIN)


@pytest.fixture
def hh_path() -> Path:
    """The real HH-RLHF harmless-base test split beside the repo; skipped when it is absent."""
    if not HH_HARMLESS.exists():
        pytest.skip(f"shared data not found at {HH_HARMLESS}")
    return HH_HARMLESS
