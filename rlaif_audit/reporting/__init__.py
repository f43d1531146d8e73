"""Reporting: the typed Report, its builder, the ReportFormat base, figures (matplotlib) and the shared text helpers."""
