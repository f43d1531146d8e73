"""The ReportFormat base class that report-writer plugins subclass."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from rlaif_audit.reporting.report import Report


class ReportFormat:
    """Writes a :class:`~rlaif_audit.reporting.report.Report` to one file (and files beside it, if it needs any)."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    filename: ClassVar[str] = ""
    writes_last: ClassVar[bool] = False
    """Written after the other formats, so that what it writes lists their failures (``report_errors``)."""

    def render(self, report: Report) -> str:
        """Return the file's text for ``report``."""
        raise NotImplementedError

    def write(self, report: Report, folder: Path) -> Path:
        """Write atomically into ``folder`` and return the path written."""
        from rlaif_audit.records.fileio import atomic_write_text

        path = Path(folder) / self.filename
        atomic_write_text(path, self.render(report))
        return path
