"""Shared fixtures: a fresh plugin manager, the shared human-labeled data, offline Hugging Face."""

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


@pytest.fixture
def pm():
    """A fresh plugin manager (entry points and built-ins loaded), never a global one."""
    from rlaif_audit.host import get_plugin_manager

    return get_plugin_manager()


@pytest.fixture
def hh_path() -> Path:
    """The real HH-RLHF harmless-base test split beside the repo; skipped when it is absent."""
    if not HH_HARMLESS.exists():
        pytest.skip(f"shared data not found at {HH_HARMLESS}")
    return HH_HARMLESS
