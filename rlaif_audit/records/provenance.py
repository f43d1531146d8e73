"""Provenance: the hashes that tie a report to the exact files it was made from."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_hash(path: Path | str) -> str:
    """sha256 of a file's bytes (first 16 hex digits)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]
