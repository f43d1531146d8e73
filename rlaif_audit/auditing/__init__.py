"""Auditing: the Auditor base and its results, the audit context, statistics, the runner and CI gates."""
