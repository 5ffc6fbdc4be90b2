"""Options several commands share, declared once so their names, help and checks agree."""

from __future__ import annotations

from typing import Annotated

import typer

Preview = Annotated[
    bool | None,
    typer.Option(
        "--preview/--no-preview",
        help="Make a poster, contact sheet and WebP preview beside each clip "
        "[default: config key preview].",
    ),
]
CI = Annotated[
    str | None,
    typer.Option(
        "--ci",
        metavar="github|none",
        help="Write GitHub's job summary, outputs and annotations [default: github "
        "when GITHUB_ACTIONS=true].",
    ),
]
BaseURL = Annotated[
    str | None,
    typer.Option("--base-url", help="API base URL [env GROKVID_BASE_URL; default api.x.ai]."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress, only errors.")]
Sandbox = Annotated[
    bool,
    typer.Option("--sandbox", help="Use a local sandbox service: no key, no network, no cost."),
]


def check_timeout(timeout: float) -> None:
    """A finite number of seconds above 0 (`--timeout inf` is a usage error, not a hang)."""
    from grokvid.api import errors

    if not 0 < timeout < float("inf"):
        raise errors.ValidationError(
            f"{timeout:g} is not a number of seconds: use e.g. 600.", "timeout"
        )
