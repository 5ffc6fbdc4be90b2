"""Problems found while reading or planning a batch, each tied to where it came from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from grokvid.api.errors import ValidationError


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a batch: `location` is "FILE:LINE" or "FILE: items[3]" and so on."""

    location: str
    message: str
    # Where in the file it is, for listing problems in file order: (line, 0) for line formats;
    # YAML sections in order (flags and top-level keys first, then defaults, matrix, items).
    position: tuple[int, int] = field(default=(0, 0), compare=False)

    def __str__(self) -> str:
        if self.message.startswith(f"{self.location} "):  # "--name '..' would leave …"
            return self.message
        return f"{self.location}: {self.message}"


class BatchProblems(ValidationError):
    """Every problem of a batch at once; nothing was sent. `str()` is one line per problem."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        unique = dict.fromkeys(problems)  # one bad shared value is one problem, not one per clip
        self.problems = sorted(unique, key=lambda p: p.position)
        super().__init__("\n".join(str(p) for p in self.problems), "batch")


class BatchInputError(ValidationError):
    """The batch file as a whole cannot be read (missing, unreadable, unknown format)."""
