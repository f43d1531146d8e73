"""Reporting: the report builder, the ReportFormat base and the text helpers shared by formats and model cards."""
