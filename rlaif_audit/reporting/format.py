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
    reader_rank: ClassVar[int] = 0
    """How readable for a person: the written format of highest rank is the file the commands name first."""

    def render(self, report: Report) -> str:
        """Return the file's text for ``report``."""
        raise NotImplementedError

    def write(self, report: Report, folder: Path) -> Path:
        """Write atomically into ``folder`` (never outside it: see ``fileio.inside``) and return the path written."""
        from rlaif_audit.records.fileio import write_inside

        return write_inside(folder, self.filename, self.render(report))
