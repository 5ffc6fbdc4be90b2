"""Problems found while reading or planning a batch, each tied to where it came from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grokvid.api.errors import ValidationError


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a batch: `location` is "FILE:LINE" or "FILE: items[3]" and so on."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class BatchProblems(ValidationError):
    """Every problem of a batch at once; nothing was sent. `str()` is one line per problem."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems), "batch")


class BatchInputError(ValidationError):
    """The batch file as a whole cannot be read (missing, unreadable, unknown format)."""
