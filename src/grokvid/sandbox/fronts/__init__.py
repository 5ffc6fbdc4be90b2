"""The sandbox's fronts: one module per provider protocol, over the same core.

Each front owns a URL prefix, its wire schema, its validation and error texts, its model and
price table, and how it says no. The core (`grokvid.sandbox.app`) owns jobs, faults, renders,
the video host and the limits. Adding fal, WaveSpeed or Replicate is one module here and one
line in `FRONTS` (docs/sandbox.md, "Fronts").
"""

from __future__ import annotations

from grokvid.sandbox.fronts.base import Front
from grokvid.sandbox.fronts.xai import XAIFront

FRONTS: tuple[type[Front], ...] = (XAIFront,)

__all__ = ["FRONTS", "Front", "XAIFront"]
