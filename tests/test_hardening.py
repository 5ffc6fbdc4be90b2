"""Bad input, through the real CLI: one line naming where it came from and the fix, the
documented exit code, nothing on stdout, and not one POST at the service."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grokvid.cli.main import app, main
from grokvid.sandbox import SandboxServer

FOX = "a red fox trotting through fresh snow"
BIG_IMAGE_BYTES = 20 * 1024 * 1024 + 1


@dataclass(frozen=True)
class Bad:
    """One bad input: the command line, and what the one error line must say."""

    args: tuple[str, ...]
    code: int
    says: tuple[str, ...]  # the source of the bad value, then the fix
    env: dict[str, str] = field(default_factory=dict)
    stdin: bytes | None = None


def plant_files(work: Path) -> None:
    """The hostile and broken files the table points at."""
    big = work / "big.png"
    with open(big, "wb") as fh:  # sparse: 20 MB + 1 byte costs nothing on disk
        fh.write(b"\x89PNG\r\n\x1a\n")
        fh.truncate(BIG_IMAGE_BYTES)
    (work / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (work / "nul.txt").write_bytes(b"a fox\x00 in snow")
    (work / "notes.png").write_text("not an image at all")
    (work / "kept.mp4").write_bytes(b"my precious clip")
    (work / "folder.mp4").mkdir()
    (work / "a-file").write_text("x")
    victim = work / "victim.txt"
    victim.write_text("somebody else's file")
    for name in ("linked.mp4.part", "linked2.mp4.part.meta", "linked3.mp4.part.lock"):
        (work / name).symlink_to(victim)
    (work / "dangling.mp4").symlink_to(work / "nowhere.mp4")
    home = Path(os.environ["GROKVID_HOME"])
    home.mkdir(parents=True, exist_ok=True)


GENERATE: dict[str, Bad] = {
    "duration-16": Bad(("-d", "16", FOX), 2, ("--duration", "1")),
    "duration-0": Bad(("-d", "0", FOX), 2, ("--duration", "1")),
    "duration-words": Bad(("-d", "five", FOX), 2, ("--duration", "whole number")),
    "aspect-5:4": Bad(("-a", "5:4", FOX), 2, ("--aspect-ratio", "16:9")),
    "resolution-4k": Bad(("-r", "4k", FOX), 2, ("--resolution", "480p")),
    "resolution-1080p-old-model": Bad(("-r", "1080p", FOX), 2, ("1080p", "720p")),
    "variants-5": Bad(("-n", "5", FOX), 2, ("--variants", "1")),
    "timeout-inf": Bad(("--timeout", "inf", FOX), 2, ("--timeout", "number")),
    "timeout-nan": Bad(("--timeout", "nan", FOX), 2, ("--timeout", "number")),
    "timeout-0": Bad(("--timeout", "0", FOX), 2, ("--timeout", "1 or more")),
    "timeout-negative": Bad(("--timeout", "-5", FOX), 2, ("--timeout", "1 or more")),
    "max-cost-nan": Bad(("--max-cost", "nan", FOX), 2, ("--max-cost", "number")),
    "max-cost-negative": Bad(("--max-cost", "-1", FOX), 2, ("--max-cost", "2.50")),
    "prompt-empty": Bad(("   ",), 2, ("PROMPT", "empty")),
    "prompt-too-long": Bad(("x" * 10_001,), 2, ("PROMPT", "10,000")),
    "prompt-bad-utf8-argv": Bad(("a fox \udcff in snow",), 2, ("prompt argument", "UTF-8")),
    "prompt-nul-argv": Bad(("a fox\x00 in snow",), 2, ("PROMPT", "remove it")),
    "prompt-twice": Bad(("--prompt-file", "nul.txt", FOX), 2, ("--prompt-file", "not both")),
    "stdin-bad-utf8": Bad((), 2, ("stdin", "save it as UTF-8"), stdin=b"caf\xe9"),
    "stdin-nul": Bad((), 2, ("stdin", "remove it"), stdin=b"a fox\x00"),
    "stdin-huge": Bad((), 2, ("stdin", "Shorten it"), stdin=b"a" * 70_000),
    "stdin-dash-bad-utf8": Bad(
        ("--prompt-file", "-"), 2, ("stdin", "save it as UTF-8"), stdin=b"\xff\xfe\xfa"
    ),
    "prompt-file-dev-zero": Bad(("--prompt-file", "/dev/zero"), 2, ("/dev/zero", "Shorten it")),
    "prompt-file-latin1": Bad(("--prompt-file", "latin1.txt"), 2, ("latin1.txt", "UTF-8")),
    "prompt-file-nul": Bad(("--prompt-file", "nul.txt"), 2, ("nul.txt", "remove it")),
    "prompt-file-missing": Bad(("--prompt-file", "gone.txt"), 2, ("gone.txt", "Give")),
    "prompt-file-directory": Bad(("--prompt-file", "."), 2, ("--prompt-file", "Give")),
    "image-over-20mb": Bad(("--image", "big.png", FOX), 2, ("--image", "20 MB")),
    "image-missing": Bad(("--image", "nosuch.png", FOX), 2, ("--image", "PNG")),
    "image-not-an-image": Bad(("--image", "notes.png", FOX), 2, ("--image", "PNG")),
    "image-dev-zero": Bad(("--image", "/dev/zero", FOX), 2, ("--image", "regular file")),
    "image-a-folder": Bad(("--image", ".", FOX), 2, ("--image", "regular file")),
    "image-plain-http": Bad(("--image", "http://example.com/a.png", FOX), 2, ("--image", "https")),
    "output-dir-proc": Bad(("--output-dir", "/proc", FOX), 2, ("--output-dir", "Choose")),
    "output-dir-sys": Bad(("--output-dir", "/sys", FOX), 2, ("--output-dir", "Choose")),
    "output-dir-dev-null": Bad(
        ("--output-dir", "/dev/null", FOX), 2, ("--output-dir", "not a directory")
    ),
    "output-dir-a-file": Bad(("--output-dir", "a-file", FOX), 2, ("--output-dir", "directory")),
    "output-dir-under-proc": Bad(
        ("--output-dir", "/proc/grokvid/clips", FOX), 2, ("--output-dir", "Choose")
    ),
    "output-under-proc": Bad(("-o", "/proc/fox.mp4", FOX), 2, ("--output", "Choose")),
    "output-not-mp4": Bad(("-o", "fox.txt", FOX), 2, ("--output", "-o fox.mp4")),
    "output-exists": Bad(("-o", "kept.mp4", FOX), 2, ("--output", "--force")),
    "output-is-a-folder": Bad(("-o", "folder.mp4", FOX), 2, ("--output", "--output-dir")),
    "output-part-is-a-link": Bad(("-o", "linked.mp4", FOX), 2, ("linked.mp4.part", "remove it")),
    "output-meta-is-a-link": Bad(
        ("-o", "linked2.mp4", FOX), 2, ("linked2.mp4.part.meta", "remove it")
    ),
    "output-lock-is-a-link": Bad(
        ("-o", "linked3.mp4", FOX), 2, ("linked3.mp4.part.lock", "remove it")
    ),
    "output-dangling-link": Bad(
        ("-o", "dangling.mp4", "--force", FOX), 2, ("dangling.mp4", "symbolic link")
    ),
    "output-with-variants": Bad(("-n", "2", "-o", "a.mp4", FOX), 2, ("--output", "--output-dir")),
    "base-url-plain-http": Bad(("--base-url", "http://example.com", FOX), 2, ("base", "https")),
    "sandbox-and-base-url": Bad(
        ("--sandbox", "--base-url", "https://api.x.ai/v1", FOX), 2, ("--sandbox", "give one")
    ),
    "sandbox-no-wait": Bad(("--sandbox", "--no-wait", FOX), 2, ("--no-wait", "sandbox serve")),
    "ci-unknown": Bad(("--ci", "jenkins", FOX), 2, ("--ci", "github or none")),
    "env-duration-words": Bad((FOX,), 2, ("GROKVID_DURATION", "unset"), {"GROKVID_DURATION": "x"}),
    "env-resolution-4k": Bad(
        (FOX,), 2, ("GROKVID_RESOLUTION", "unset"), {"GROKVID_RESOLUTION": "4k"}
    ),
    "env-render-seconds-inf": Bad(
        ("--sandbox", FOX),
        2,
        ("GROKVID_SANDBOX_RENDER_SECONDS", "unset it"),
        {"GROKVID_SANDBOX_RENDER_SECONDS": "inf"},
    ),
    "env-render-seconds-nan": Bad(
        ("--sandbox", FOX),
        2,
        ("GROKVID_SANDBOX_RENDER_SECONDS", "unset it"),
        {"GROKVID_SANDBOX_RENDER_SECONDS": "nan"},
    ),
    "env-render-seconds-negative": Bad(
        ("--sandbox", FOX),
        2,
        ("GROKVID_SANDBOX_RENDER_SECONDS", "unset it"),
        {"GROKVID_SANDBOX_RENDER_SECONDS": "-1"},
    ),
    "env-render-seconds-words": Bad(
        ("--sandbox", FOX),
        2,
        ("GROKVID_SANDBOX_RENDER_SECONDS", "unset it"),
        {"GROKVID_SANDBOX_RENDER_SECONDS": "soon"},
    ),
    "no-key": Bad(
        (FOX,), 3, ("XAI_API_KEY", "grokvid config set xai.api_key"), {"XAI_API_KEY": ""}
    ),
}

STATUS: dict[str, Bad] = {
    "limit-huge": Bad(("--limit", "99999999999999999999"), 2, ("--limit", "1 to 1000000")),
    "limit-0": Bad(("--limit", "0"), 2, ("--limit", "1 to 1000000")),
    "limit-words": Bad(("--limit", "many"), 2, ("--limit", "whole number")),
    "state-unknown": Bad(("--state", "finished"), 2, ("--state", "downloaded")),
    "id-too-short": Bad(("ab",), 2, ("'ab'", "4 characters")),
    "id-unknown": Bad(("gv-zzzzzzzz",), 2, ("gv-zzzzzzzz", "grokvid status")),
}

DOWNLOAD: dict[str, Bad] = {
    "output-dir-dev-null": Bad(
        ("gv-zzzzzzzz", "--output-dir", "/dev/null"), 2, ("--output-dir", "not a directory")
    ),
    "output-dir-under-proc": Bad(
        ("gv-zzzzzzzz", "--output-dir", "/proc/grokvid/clips"), 2, ("--output-dir", "Choose")
    ),
    "output-dir-proc": Bad(("gv-zzzzzzzz", "--output-dir", "/proc"), 2, ("--output-dir", "Choose")),
    "timeout-inf": Bad(("gv-zzzzzzzz", "--timeout", "inf"), 2, ("--timeout", "number")),
    "timeout-nan": Bad(("gv-zzzzzzzz", "--timeout", "nan"), 2, ("--timeout", "number")),
    "id-unknown": Bad(("gv-zzzzzzzz",), 2, ("gv-zzzzzzzz", "grokvid status")),
    "no-id": Bad((), 2, ("ID", "download --help")),
}


def run_main(
    argv: list[str], stdin: bytes | None, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    """The `grokvid` entry point itself (it turns Typer's usage errors into one line), with
    its own stdin, stdout and stderr: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["grokvid", *argv])
    with CliRunner().isolation(input=stdin) as (out, err, _):
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        else:
            code = 0
        sys.stdout.flush()
        sys.stderr.flush()
        return code, out.getvalue().decode(), err.getvalue().decode()


TABLE = [
    pytest.param(command, bad, id=f"{command}-{name}")
    for command, rows in (("generate", GENERATE), ("status", STATUS), ("download", DOWNLOAD))
    for name, bad in rows.items()
]


@pytest.mark.parametrize(("command", "bad"), TABLE)
def test_bad_input_is_one_line_naming_the_source_and_the_fix(
    env: Path, server: SandboxServer, monkeypatch: pytest.MonkeyPatch, command: str, bad: Bad
) -> None:
    plant_files(env)
    for name, value in bad.env.items():
        if value:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name, raising=False)
    code, stdout, stderr = run_main([command, *bad.args], bad.stdin, monkeypatch)
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("grokvid: error: "), stderr
    for words in bad.says:
        assert words in lines[0], f"{words!r} missing from: {lines[0]}"
    assert "Unexpected error" not in lines[0] and "Traceback" not in stderr
    assert code == bad.code, lines[0]
    assert stdout == ""
    assert [entry for entry in server.app.request_log if entry[1] == "POST"] == []


def test_status_state_filter_with_no_match_says_so(env: Path, server: SandboxServer) -> None:
    code = CliRunner().invoke(app, ["generate", "--no-wait", "-d", "1", FOX]).exit_code
    assert code == 0
    result = CliRunner().invoke(app, ["status", "--state", "moderated", "--no-refresh"])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.strip() == "grokvid: No jobs in state moderated."
