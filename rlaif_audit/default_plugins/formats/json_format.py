"""report.json: the whole report, strict JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from rlaif_audit.reporting.format import ReportFormat

if TYPE_CHECKING:
    from rlaif_audit.reporting.report import Report


class JsonReport(ReportFormat):
    """report.json: ``Report.to_dict()`` as strict JSON (no NaN); written last, to list the others' failures."""

    name = "json"
    description = "Machine-readable report (every metric as value, CI and n)."
    filename = "report.json"
    writes_last = True

    def render(self, report: Report) -> str:
        return json.dumps(report.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


FORMATS = (JsonReport,)
"""The formats this module defines, registered by the package's plugin."""
