"""A render worker process: `python -m grokvid.sandbox.worker`, driven by `grokvid.sandbox.pool`."""

from __future__ import annotations

import os
import sys


def main() -> None:
    # The protocol owns the real stdout; anything a library prints goes to stderr instead.
    outbox = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    from grokvid.sandbox.pool import serve_calls

    serve_calls(sys.stdin.buffer, outbox)


if __name__ == "__main__":
    main()
