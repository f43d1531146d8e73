"""Shared records: the typed data every layer passes (pairs, labels, judgments), preference arithmetic, provenance, file I/O."""
