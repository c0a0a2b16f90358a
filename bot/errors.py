"""The exceptions relaydesk raises; the CLI and the HTTP edge turn them into one clear message."""

from __future__ import annotations


class RelaydeskError(Exception):
    """Base of every error relaydesk raises on purpose."""


class ConfigError(RelaydeskError):
    """config.yml is missing, unreadable or invalid; the message names the key."""


class TrainingDataError(RelaydeskError):
    """A training-data file is invalid; carries every problem found, each with file and line."""

    def __init__(self, problems: list[DataProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class DataProblem:
    """One problem in a data file: where it is and why it is wrong."""

    __slots__ = ("file", "line", "reason")

    def __init__(self, file: str, line: int | None, reason: str) -> None:
        self.file = file
        self.line = line
        self.reason = reason

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.reason}"

    def __repr__(self) -> str:
        return f"DataProblem({self.file!r}, {self.line!r}, {self.reason!r})"


class ModelNotFoundError(RelaydeskError):
    """No trained model where one was expected; the message says how to train one."""


class ModelFormatError(RelaydeskError):
    """A model directory is incomplete or written by an incompatible version."""


class InputError(RelaydeskError):
    """A caller's input is invalid (empty, wrong type); maps to HTTP 400."""


class InputTooLargeError(InputError):
    """A caller's input exceeds a configured size limit; maps to HTTP 413."""


class UnsupportedMediaTypeError(InputError):
    """A file of a type the server does not take (HTTP 415)."""


class StoreUnavailableError(RelaydeskError):
    """The database cannot be reached (restarting, failing over, network down); nothing of the
    request was committed, so the caller may send it again. Maps to HTTP 503."""
