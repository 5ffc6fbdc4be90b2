"""`grokvid sandbox serve`: the local stand-in for the xAI video API, in the foreground."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from grokvid.cli.exits import handle_errors

if TYPE_CHECKING:
    from grokvid.sandbox import SandboxApp, SandboxConfig

INSTALL_HINT = "the sandbox needs its extra: pip install 'grokvid[sandbox]'"
# Longest field names first: "rate_limit" is a prefix of two others.
_FLAGS = {
    "render_seconds": "--render-seconds",
    "job_ttl_seconds": "--job-ttl",
    "url_ttl_seconds": "--url-ttl",
    "max_jobs": "--max-jobs",
    "rate_limit_probability": "--rate-limit-chance",
    "rate_limit_retry_after": "--retry-after",
    "rate_limit": "--rate-limit",
    "error_probability": "--error-rate",
    "drop_probability": "--drop-rate",
    "download_bytes_per_second": "--slow-download",
    "faults": "--fault",
}

app = typer.Typer(
    help=(
        "A local stand-in for the xAI video API: any key works, clips are real MP4s, "
        "and faults (429s, 5xx, dropped connections, moderation...) come on request."
    ),
    no_args_is_help=True,
)


@app.command("serve")
@handle_errors
def serve(
    host: Annotated[
        str,
        typer.Option(
            metavar="HOST", help="Address to listen on; loopback only, unless --allow-remote."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(metavar="PORT", help="Port to listen on; 0 picks a free one.")
    ] = 8799,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow a non-loopback --host (any key works!).")
    ] = False,
    render_seconds: Annotated[
        str,
        typer.Option(
            metavar="SECONDS",
            help="How long each job renders: seconds (2) or a random range (2-5).",
        ),
    ] = "2",
    seed: Annotated[
        int | None, typer.Option(metavar="N", help="Seed the dice: same requests, same faults.")
    ] = None,
    rate_limit: Annotated[
        str | None,
        typer.Option(
            metavar="R",
            help="Allow R submits per second (token bucket); beyond it a 429 with Retry-After. "
            "Default: GROKVID_SANDBOX_RATE_LIMIT, else no limit.",
        ),
    ] = None,
    rate_limit_chance: Annotated[
        float,
        typer.Option(metavar="P", help="Probability (0-1) that an API request gets a 429."),
    ] = 0.0,
    retry_after: Annotated[
        float | None,
        typer.Option(metavar="SECONDS", help="Retry-After seconds sent with 429s (default: none)."),
    ] = None,
    error_rate: Annotated[
        float,
        typer.Option(metavar="P", help="Probability (0-1) of a 500/502/503 on an API request."),
    ] = 0.0,
    drop_rate: Annotated[
        float,
        typer.Option(metavar="P", help="Probability (0-1) that an API request's connection drops."),
    ] = 0.0,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            metavar="SPEC",
            help="Scripted fault for the next matching request, in order (repeatable): "
            "e.g. 429, 503, none, submit:drop-after, poll:500, download:truncate.",
        ),
    ] = None,
    job_ttl: Annotated[
        float, typer.Option(metavar="SECONDS", help="Seconds until a job answers expired.")
    ] = 86400.0,
    url_ttl: Annotated[
        float, typer.Option(metavar="SECONDS", help="Seconds a video URL stays valid.")
    ] = 86400.0,
    slow_download: Annotated[
        int | None,
        typer.Option(metavar="BYTES_PER_S", help="Throttle every download to this many bytes/s."),
    ] = None,
    max_jobs: Annotated[
        int, typer.Option(metavar="N", help="Jobs kept in memory; oldest finished go first.")
    ] = 1000,
    clip_cache: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR", help="Where rendered clips are cached (default: grokvid's cache)."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No line per request.")] = False,
) -> None:
    """Run the sandbox until Ctrl-C, logging one line per request on stderr.

    Example: grokvid sandbox serve --render-seconds 2-5 --rate-limit 1 --error-rate 0.1

    Per request, a client adds faults with the X-Sandbox-Fault header or [sandbox:...] words in
    the prompt, e.g. [sandbox:moderate]. docs/sandbox.md lists every fault and limit.
    """
    from grokvid.api.errors import ConfigError

    try:
        from grokvid.sandbox import (
            RATE_LIMIT_ENV,
            SandboxConfig,
            create_app,
            parse_rate_limit,
            parse_render_seconds,
        )
        from grokvid.sandbox.net import loopback_addresses

        if not allow_remote:
            try:
                loopback_addresses(host)
            except ValueError as exc:
                raise ConfigError(
                    f"refusing to serve on {host}: {_plain(exc)}; the sandbox accepts any key, "
                    "so it listens on loopback only: add --allow-remote to serve other "
                    "machines anyway."
                ) from None
        if not 0 <= port <= 65535:
            raise ConfigError(f"--port {port} is not a port: use 0-65535 (0 picks a free one).")
        submits_per_second = _rate_limit(rate_limit, RATE_LIMIT_ENV, parse_rate_limit)
        try:
            config = SandboxConfig(
                render_seconds=parse_render_seconds(render_seconds),
                seed=seed,
                job_ttl_seconds=job_ttl,
                url_ttl_seconds=url_ttl,
                max_jobs=max_jobs,
                clip_cache_dir=clip_cache,
                rate_limit=submits_per_second,
                rate_limit_probability=rate_limit_chance,
                rate_limit_retry_after=retry_after,
                error_probability=error_rate,
                drop_probability=drop_rate,
                faults=[None if f.strip().lower() in ("none", "ok") else f for f in fault or []],
                download_bytes_per_second=slow_download,
            )
        except ValueError as exc:
            message = str(exc)
            for field, flag in _FLAGS.items():  # name the option the user typed
                message = message.replace(field, flag)
            raise ConfigError(f"bad sandbox option: {message}") from None
        sandbox = create_app(config)
    except ImportError as exc:
        raise ConfigError(INSTALL_HINT) from exc
    _log_requests(quiet)
    try:
        import asyncio  # here, not at the top: `grokvid --help` stays quick

        asyncio.run(_run(sandbox, host, port))
    except KeyboardInterrupt:  # where the loop can't catch signals (Windows)
        pass
    finally:
        sandbox.close()
    _say("stopped")


async def _run(sandbox: SandboxApp, host: str, port: int) -> None:
    import asyncio
    import contextlib
    import errno
    import signal

    from grokvid.api.errors import ConfigError
    from grokvid.sandbox import HTTPServer

    server = HTTPServer(sandbox, host, port, body_deadline=sandbox.config.body_deadline_seconds)
    try:
        await server.start()
    except OSError as exc:
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        hint = " (pick another --port, or --port 0 for a free one)" if port else ""
        raise ConfigError(f"cannot listen on {host}:{port}: {reason or exc}{hint}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    url = f"http://{f'[{host}]' if ':' in host else host}:{server.port}"
    _say(f"serving on {url} (any key works; Ctrl-C to stop)")
    _say(f"export GROKVID_BASE_URL={url} XAI_API_KEY=sandbox")
    if summary := _fault_summary(sandbox.config):
        _say(f"faults: {summary}")
    try:
        await stop.wait()
    finally:
        await server.aclose()


def _plain(exc: ValueError) -> str:
    """`cannot resolve 'x': [Errno -2] Name or service not known` -> without the errno."""
    return str(exc).replace("[Errno -2] ", "").replace("[Errno -3] ", "")


def _rate_limit(flag: str | None, env_name: str, parse: Callable[[str], float]) -> float | None:
    """--rate-limit, else the environment variable, else no limit; one-line errors for both."""
    from grokvid.api.errors import ConfigError

    raw, source = (flag, "--rate-limit") if flag is not None else (None, env_name)
    if raw is None:
        raw = os.environ.get(env_name, "").strip() or None
    if raw is None:
        return None
    try:
        return parse(raw)
    except ValueError:
        fix = "give submits per second above 0, such as 2 or 0.5"
        if source == env_name:
            fix += f", or unset {env_name}"
        shown = f"{source}={raw!r}" if source == env_name else f"{source} {raw!r}"
        raise ConfigError(f"{shown} is not a rate limit: {fix}.") from None


def _fault_summary(config: SandboxConfig) -> str:
    parts = []
    if config.rate_limit:
        parts.append(f"at most {config.rate_limit:g} submits/s, then 429 with Retry-After")
    if config.rate_limit_probability:
        wait = config.rate_limit_retry_after
        after = f", Retry-After {wait:g}s" if wait is not None else ""
        parts.append(f"429 on {config.rate_limit_probability:.0%} of API requests{after}")
    if config.error_probability:
        codes = "/".join(map(str, config.error_statuses))
        parts.append(f"{codes} on {config.error_probability:.0%}")
    if config.drop_probability:
        parts.append(f"dropped connections on {config.drop_probability:.0%}")
    if config.faults:
        parts.append("scripted " + ", ".join(f or "none" for f in config.faults))
    if config.download_bytes_per_second:
        parts.append(f"downloads at {config.download_bytes_per_second} bytes/s")
    if parts and config.seed is not None:
        parts.append(f"seed {config.seed}")
    return "; ".join(parts)


def _log_requests(quiet: bool) -> None:
    import logging

    from grokvid.cli.render import StderrHandler

    handler = StderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    logger = logging.getLogger("grokvid.sandbox")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


def _say(message: str) -> None:
    from grokvid.cli.render import err

    err(f"grokvid sandbox: {message}")
