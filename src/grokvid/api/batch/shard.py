"""`--shard I/N`: a deterministic I-th of N disjoint slices of a batch, by fingerprint."""

from __future__ import annotations

import re
from dataclasses import dataclass

from grokvid.api.errors import ValidationError

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    def contains(self, fingerprint: str) -> bool:
        """Whether the clip with this fingerprint belongs to this shard.

        The fingerprint is a sha256, so its leading bits spread clips evenly and the same clip
        lands in the same shard on every machine and every run.
        """
        return int(fingerprint[:16], 16) % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """Parse "I/N" (1 <= I <= N); ValidationError on anything else."""
    match = _SHARD.fullmatch(text)
    if match is None:
        raise ValidationError(
            f"{text!r} is not a shard: write I/N, e.g. 1/4 for the first of four slices.",
            "shard",
        )
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise ValidationError(
            f"Shard {text!r} is out of range: I must be from 1 to N (e.g. 1/{max(count, 2)}).",
            "shard",
        )
    return Shard(index, count)
