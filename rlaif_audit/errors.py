"""Errors that the CLI turns into clear messages and exit code 2."""

from __future__ import annotations


class RlaifAuditError(Exception):
    """Base class of errors shown to the user without a traceback."""


class InputError(RlaifAuditError):
    """Bad input data: names the file, the line or row, and the field."""

    def __init__(self, path: str, message: str, line: int | None = None, field: str | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        what = f" field '{self.field}':" if self.field else ""
        return f"{where}:{what} {self.message}"


class PluginError(RlaifAuditError):
    """A plugin is missing, duplicated or misconfigured."""


class ConfigError(RlaifAuditError):
    """A bad configuration key, value or option."""


class PluginFailure(RlaifAuditError):
    """A plugin failed while it ran (raised, hung, returned nonsense): the command ends with exit code 1."""

    exit_code = 1


class EvaluatorDrift(RlaifAuditError):
    """The evaluator changed under a run whose ``on_drift`` is ``stop``; the message names what changed."""
