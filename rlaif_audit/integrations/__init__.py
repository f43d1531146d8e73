"""Integrations with training libraries: TRL (``rlaif_audit.trl``)."""
