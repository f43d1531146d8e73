"""The ReportFormat base class that report-writer plugins subclass."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar


class ReportFormat:
    """Writes a report dict (the report.json structure) to one file."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    filename: ClassVar[str] = ""

    def render(self, report: dict[str, Any]) -> str:
        """Return the file's text for ``report``."""
        raise NotImplementedError

    def write(self, report: dict[str, Any], folder: Path) -> Path:
        """Write atomically into ``folder`` and return the path written."""
        from rlaif_audit.records.fileio import atomic_write_text

        path = Path(folder) / self.filename
        atomic_write_text(path, self.render(report))
        return path
