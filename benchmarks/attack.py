"""The attack on grokvid: hundreds of bad inputs and faults, each run as a user would run it.

    .venv/bin/python benchmarks/attack.py             # every bad input, every fault 3 times
    .venv/bin/python benchmarks/attack.py --reps 1    # each fault once (quicker)
    .venv/bin/python benchmarks/attack.py --only bad  # just the bad inputs

Every run is `python -m grokvid …` in a fresh process with its own GROKVID_HOME and folder,
against a sandbox on 127.0.0.1 (nothing leaves the machine), under a time limit. A fault that
needs the disk or the ledger to fail starts the same entry point with the failure patched in.

A bad input is *handled* when it exits with its documented code, prints exactly one
`grokvid: error:` line (no traceback, no "Unexpected error"), nothing on stdout, and sends no
POST. A fault is *survived* when nothing paid is lost (the service's job is in the ledger, or
its request id is on stderr), nothing is paid twice (at most one job at the service), the exit
code agrees with the ledger, and the command that says how to recover does recover.
Prints one table: tried / handled / failed, by category; then every failure, one line each.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grokvid.sandbox import SandboxConfig, SandboxServer

FOX = "a red fox trotting through fresh snow"
RUN_LIMIT = 60.0  # seconds for any one process: a hang is a failure, never a stuck attack
KEY = "xai-attack-key-0000"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


@dataclass
class User:
    """One user's machine: a home, a folder, and a sandbox to talk to."""

    root: Path
    server: SandboxServer
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def work(self) -> Path:
        return self.root / "work"

    def env(self, **more: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k != "XAI_API_KEY" and not k.startswith("GROKVID")
        }
        env.update(
            GROKVID_HOME=str(self.home), GROKVID_BASE_URL=self.server.base_url, XAI_API_KEY=KEY
        )
        env.update(self.extra_env)
        env.update(more)
        return {k: v for k, v in env.items() if v != ""}

    def start(self, *args: str | bytes, patch: str = "", **env: str) -> subprocess.Popen[bytes]:
        if patch:
            code = f"import sys\n{patch}\nfrom grokvid.cli.main import main\nmain()\n"
            argv: list[str | bytes] = [sys.executable, "-c", code, *args]
        else:
            argv = [sys.executable, "-m", "grokvid", *args]
        return subprocess.Popen(
            argv,
            env=self.env(**env),
            cwd=self.work,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def run(
        self, *args: str | bytes, stdin: bytes | None = None, patch: str = "", **env: str
    ) -> Run:
        proc = self.start(*args, patch=patch, **env)
        try:
            out, err = proc.communicate(stdin, timeout=RUN_LIMIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            return Run(-999, out.decode(errors="replace"), "HUNG past the time limit\n")
        return Run(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))

    def rows(self) -> list[dict[str, Any]]:
        listed = self.run("status", "--json", "--no-refresh", "--limit", "100")
        return [json.loads(line) for line in listed.stdout.splitlines()]

    def posts(self) -> int:
        return sum(1 for e in self.server.app.request_log if e.method == "POST")

    def service_jobs(self) -> int:
        return len(self.server.app.jobs())


@contextmanager
def user(tmp: Path, name: str, **config: Any) -> Iterator[User]:
    root = Path(tempfile.mkdtemp(prefix=f"{name[:40]}-", dir=tmp))
    (root / "work").mkdir()
    settings = {"render_seconds": 0.3, "clip_cache_dir": tmp / "clips", **config}
    with SandboxServer(SandboxConfig(**settings), port=0) as server:
        yield User(root, server)


# --- bad inputs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    category: str
    argv: tuple[str | bytes, ...]
    code: int = 2
    env: tuple[tuple[str, str], ...] = ()
    stdin: bytes | None = None
    config: str | None = None

    @property
    def name(self) -> str:
        shown = " ".join(a if isinstance(a, str) else repr(a) for a in self.argv)[:70]
        extra = " ".join(f"{k}={v}" for k, v in self.env)
        return f"{extra} grokvid {shown}".strip() + (" <stdin" if self.stdin is not None else "")


BAD_UTF8 = [
    b"\xff",
    b"caf\xe9",
    b"\xc3\x28",
    b"\xa0\xa1",
    b"\xe2\x28\xa1",
    b"\xf0\x28\x8c\xbc",
    b"\xed\xa0\x80",
    b"\xc0\xaf",
    b"\xf8\x88\x80\x80\x80",
]


def bad_inputs() -> list[Bad]:
    cases: list[Bad] = []

    def add(category: str, *argv: str | bytes, code: int = 2, **kw: Any) -> None:
        cases.append(Bad(category, tuple(argv), code, **kw))

    numbers = {
        "duration": ("--duration", ["0", "16", "-1", "abc", "1.5", "99999999999999999999", "nan"]),
        "resolution": ("--resolution", ["4k", "1080", "480", "720P", "hd"]),
        "aspect_ratio": ("--aspect-ratio", ["5:4", "16/9", "0:0", ":", "1:1:1"]),
    }
    for key, (flag, values) in numbers.items():
        for value in values:
            add("option value (flag)", "generate", flag, value, FOX)
            env_name = f"GROKVID_{key.upper()}"
            add("option value (env var)", "generate", FOX, env=((env_name, value),))
            toml = f'{key} = "{value}"' if not value.lstrip("-").isdigit() else f"{key} = {value}"
            add("option value (config file)", "generate", FOX, config=toml + "\n")
    for value in ["inf", "nan", "0", "-1", "abc", "1e309", "-inf"]:
        add("option value (flag)", "generate", "--timeout", value, FOX)
        add("option value (flag)", "download", "gv-abcd1234", "--timeout", value)
    for value in ["nan", "-1", "inf", "abc"]:
        add("option value (flag)", "generate", "--max-cost", value, FOX)
    for value in ["0", "5", "-1", "abc"]:
        add("option value (flag)", "generate", "-n", value, FOX)
    for value in ["0", "-1", "99999999999999999999", "abc", "1e3"]:
        add("option value (flag)", "status", "--limit", value)
    for value in ["bogus", "DONE", "pending,done"]:
        add("option value (flag)", "status", "--state", value)
    add("option value (flag)", "generate", "--ci", "jenkins", FOX)
    for value in ["http://example.com", "ftp://x.ai", "not a url", "https://", "file:///etc"]:
        add("option value (flag)", "generate", "--base-url", value, FOX)
        add("option value (env var)", "generate", FOX, env=(("GROKVID_BASE_URL", value),))
    for value in ["inf", "nan", "-1", "soon", "1e309", "5-2"]:
        add(
            "option value (env var)",
            "generate",
            "--sandbox",
            FOX,
            env=(("GROKVID_SANDBOX_RENDER_SECONDS", value),),
        )
    # (An unknown key, `nosuch = 1`, is ignored on purpose: a newer grokvid's file still loads.)
    for toml in ["duration = ", "[xai\n", "duration = 5\nduration = 6\n", "duration = [1]\n"]:
        add("config file", "generate", FOX, config=toml)
    add("config file", "config", "set", "nosuch", "1")
    add("config file", "config", "set", "duration", "99")
    add("config file", "config", "get", "nosuch")

    for seq in BAD_UTF8:
        add("prompt", "generate", b"a fox " + seq)
        add("prompt", "generate", stdin=b"a fox " + seq)
        add("prompt", "generate", "--prompt-file", "-", stdin=seq + b" fox")
        add("prompt", "generate", "--prompt-file", f"bad-{seq.hex()}.txt")
    for text in [b"a\x00b", b"\x00", b"fox\x00\n"]:
        add("prompt", "generate", stdin=text)
        add("prompt", "generate", "--prompt-file", f"nul-{text.hex()}.txt")
    # (A pipe is a fine --prompt-file: `--prompt-file <(make-prompt)` reads one. It waits for
    # its writer, as `cat` would, so it is not in this table.)
    for path in ["/dev/zero", "/dev/urandom", "big-prompt.txt", "missing.txt", ".", "/dev/null"]:
        add("prompt", "generate", "--prompt-file", path)
    add("prompt", "generate", stdin=b"x" * 70_000)
    for text in ["", " ", "\t\n", "x" * 10_001]:
        add("prompt", "generate", text)
    add("prompt", "generate", "--prompt-file", "ok.txt", FOX)

    for image in [
        "missing.png",
        ".",
        "notes.png",
        "big.png",
        "http://example.com/a.png",
        "ftp://example.com/a.png",
        "/dev/zero",
        "fifo",
        "empty.png",
    ]:
        add("file", "generate", "--image", image, FOX)
    for out in ["fox.txt", "folder.mp4", "kept.mp4", "/proc/fox.mp4", "link.mp4", "dangling.mp4"]:
        add("file", "generate", "-o", out, FOX)
    for out in ["linkp.mp4", "linkm.mp4", "linkl.mp4"]:
        add("file", "generate", "-o", out, FOX)
    add("file", "generate", "-n", "2", "-o", "two.mp4", FOX)
    for folder in ["/proc", "/sys", "/dev/null", "a-file", "/proc/x/y", "/sys/kernel/grokvid"]:
        add("file", "generate", "--output-dir", folder, FOX)
        add("file", "download", "gv-abcd1234", "--output-dir", folder)
        add("option value (env var)", "generate", FOX, env=(("GROKVID_OUTPUT_DIR", folder),))

    for ident in ["a", "gv-", "gv-a", "gv-zzzzzzzz", "nosuchjob", "gv-abc d", "%%%%", "x" * 300]:
        add("job id", "status", ident)
        add("job id", "download", ident)
    add("job id", "download")
    add("conflict", "generate", "--sandbox", "--base-url", "https://api.x.ai/v1", FOX)
    add("conflict", "generate", "--sandbox", "--no-wait", FOX)
    add("no key", "generate", FOX, code=3, env=(("XAI_API_KEY", ""),))
    add("no key", "generate", "-n", "3", FOX, code=3, env=(("XAI_API_KEY", ""),))
    return cases


def plant(work: Path) -> None:
    for seq in BAD_UTF8:
        (work / f"bad-{seq.hex()}.txt").write_bytes(b"a fox " + seq)
    for text in [b"a\x00b", b"\x00", b"fox\x00\n"]:
        (work / f"nul-{text.hex()}.txt").write_bytes(text)
    (work / "big-prompt.txt").write_bytes(b"fox " * 40_000)
    (work / "ok.txt").write_text(FOX)
    os.mkfifo(work / "fifo")
    with open(work / "big.png", "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n")
        fh.truncate(20 * 1024 * 1024 + 1)
    (work / "empty.png").write_bytes(b"")
    (work / "notes.png").write_text("not an image")
    (work / "kept.mp4").write_bytes(b"my clip")
    (work / "folder.mp4").mkdir()
    (work / "a-file").write_text("x")
    victim = work / "victim.txt"
    victim.write_text("somebody else's")
    (work / "link.mp4").symlink_to(victim)
    (work / "dangling.mp4").symlink_to(work / "nowhere.mp4")
    (work / "linkp.mp4.part").symlink_to(victim)
    (work / "linkm.mp4.part.meta").symlink_to(victim)
    (work / "linkl.mp4.part.lock").symlink_to(victim)


def try_bad(tmp: Path, case: Bad) -> tuple[bool, str]:
    with user(tmp, "bad") as u:
        plant(u.work)
        if case.config is not None:
            u.home.mkdir(parents=True, exist_ok=True)
            (u.home / "config.toml").write_text(case.config)
        run = u.run(
            *case.argv, stdin=case.stdin if case.stdin is not None else b"", **dict(case.env)
        )
        lines = run.stderr.splitlines()
        errors = [line for line in lines if line.startswith("grokvid: error: ")]
        problems = []
        if run.code != case.code:
            problems.append(f"exit {run.code} (want {case.code})")
        if len(errors) != 1:
            problems.append(f"{len(errors)} error lines")
        if "Traceback" in run.stderr or "Unexpected error" in run.stderr:
            problems.append("traceback/unexpected")
        if run.stdout:
            problems.append("stdout not empty")
        if u.posts():
            problems.append(f"{u.posts()} POSTs")
        shown = (errors[0] if errors else run.stderr.strip()[:200]).removeprefix("grokvid: error: ")
        return not problems, f"{'; '.join(problems)} :: {shown}" if problems else shown


# --- faults --------------------------------------------------------------------------------

Check = Callable[[Path], tuple[bool, str]]


def consistent(u: User, run: Run) -> list[str]:
    """The invariants every fault must leave intact."""
    problems = []
    if run.code == -999:
        problems.append("hung")
    if "Traceback" in run.stderr:
        problems.append("traceback")
    if u.service_jobs() > 1:
        problems.append(f"paid twice: {u.service_jobs()} jobs at the service")
    rows = u.rows()
    if u.service_jobs() == 1 and rows:
        known = {r["request_id"] for r in rows}
        (job,) = u.server.app.jobs()
        lost = job.request_id not in known and job.request_id not in run.stderr
        if lost and rows[0]["state"] not in ("submit-unknown", "submitting", "expired"):
            problems.append(f"the service's job is nowhere: ledger says {rows[0]['state']}")
        if rows[0]["state"] in ("not-sent", "rejected") and job.request_id in known | {None}:
            problems.append(f"ledger says {rows[0]['state']} for a job the service made")
    if rows:
        state = rows[0]["state"]
        want = {
            0: {"downloaded", "pending"},
            3: {"not-sent"},
            4: {"rejected"},
            5: {"submit-unknown", "not-sent", "pending", "done"},
            6: {"failed", "moderated", "expired"},
            130: {"submit-unknown", "pending", "done", "submitting"},
        }.get(run.code)
        if want is not None and state not in want:
            problems.append(f"exit {run.code} but the ledger says {state}")
        if run.code == 0 and state == "downloaded" and not Path(rows[0]["path"]).is_file():
            problems.append("exit 0 without a clip")
    return problems


def recover(u: User, first: Run) -> list[str]:
    """If the first run said `grokvid download ID --wait`, that command must bring the clip."""
    marker = "grokvid download "
    if first.code in (0, 6) or marker not in first.stderr:
        return []
    ident = first.stderr.split(marker)[1].split()[0]
    again = u.run("download", ident, "--wait", "--timeout", "30")
    if again.code != 0:
        return [f"recovery `download {ident} --wait` exit {again.code}: {again.stderr[-160:]}"]
    if u.service_jobs() > 1:
        return ["recovery paid twice"]
    return []


def generate_with(tmp: Path, name: str, prompt: str, *args: str, **config: Any) -> tuple[bool, str]:
    with user(tmp, name, **config) as u:
        run = u.run("generate", "-d", "1", *args, prompt)
        problems = consistent(u, run) + recover(u, run)
        return not problems, "; ".join(problems) or f"exit {run.code}"


def scripted(spec: str, *args: str) -> Check:
    return lambda tmp: generate_with(tmp, spec, FOX, *args, faults=[spec])


def worded(word: str, *args: str) -> Check:
    return lambda tmp: generate_with(tmp, word, f"{FOX} [sandbox:{word}]", *args)


def bounded(prompt: str, timeout: float, **config: Any) -> Check:
    """--timeout ends the whole command near its limit, exit 5, whatever it was waiting for."""

    def check(tmp: Path) -> tuple[bool, str]:
        with user(tmp, "bounded", **config) as u:
            started = time.monotonic()
            run = u.run("generate", "-d", "1", "--timeout", f"{timeout:g}", prompt)
            took = time.monotonic() - started
            problems = consistent(u, run)
            if run.code != 5 or "grokvid: error:" not in run.stderr:
                problems.append(f"exit {run.code}: {run.stderr[-160:]}")
            if took > timeout + 5:  # start-up, the sandbox's answer, the last write
                problems.append(f"took {took:.1f} s for --timeout {timeout:g}")
            return not problems, "; ".join(problems) or f"exit 5 after {took:.1f} s"

    return check


def wait_for(condition: Callable[[], bool], limit: float = 30) -> bool:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return False


def killed(sig: int, twice: bool = False, during: str = "render") -> Check:
    def check(tmp: Path) -> tuple[bool, str]:
        word = "render=20" if during == "render" else "slow=20000"
        with user(tmp, f"sig{sig}") as u:
            proc = u.start("generate", "-d", "1", "-o", "fox.mp4", f"{FOX} [sandbox:{word}]")
            ready = (
                (lambda: u.service_jobs() == 1)
                if during == "render"
                else (lambda: (u.work / "fox.mp4.part").exists())
            )
            if not wait_for(ready):
                proc.kill()
                return False, "never got going"
            if during == "render":
                time.sleep(0.3)  # let the ledger take the request id: the kill lands mid-wait
            proc.send_signal(sig)
            if twice:
                proc.send_signal(sig)
            out, err = proc.communicate(timeout=RUN_LIMIT)
            run = Run(proc.returncode, out.decode(), err.decode())
            problems = consistent(u, Run(max(run.code, 0) or 130, run.stdout, run.stderr))
            if sig != signal.SIGKILL and run.code != 130:
                problems.append(f"exit {run.code}, not 130")
            local = u.rows()[0]["id"]
            again = u.run("download", local, "--wait", "--force", "--timeout", "45")
            if again.code != 0 and during == "render":
                problems.append(f"download --wait after the kill: exit {again.code}")
            if during == "download" and again.code not in (0, 5):
                problems.append(f"download after a mid-download kill: exit {again.code}")
            return not problems, "; ".join(problems) or "recovered"

    return check


def patched(name: str, patch: str, then: list[str] | None = None) -> Check:
    """generate with a failure patched into the process; then the recovery a user would run."""

    def check(tmp: Path) -> tuple[bool, str]:
        with user(tmp, name) as u:
            run = u.run("generate", "-d", "1", "-o", "full/fox.mp4", FOX, patch=patch)
            problems = consistent(u, run)
            if run.code == 0:
                problems.append("the failure went unnoticed")
            if run.code == 5 and "grokvid download" not in run.stderr:
                problems.append("no recovery command")
            if then is not None:
                ident = u.rows()[0]["id"]
                again = u.run("download", ident, "--wait", *then)
                if again.code != 0:
                    problems.append(f"recovery exit {again.code}: {again.stderr[-160:]}")
                elif list((u.work / "full").glob("*.part")) and "--output-dir" in then:
                    problems.append("a .part was left in the full folder")
            return not problems, "; ".join(problems) or f"exit {run.code}, recovered"

    return check


LEDGER_FULL = """
import sqlite3
from grokvid.api.ledger import connection
from grokvid.api.ledger.store import Ledger
real = Ledger.update
state = {"full": False}
def update(self, local_id, /, **fields):
    state["full"] = state["full"] or "request_id" in fields
    if state["full"]:
        raise connection.unusable(self.path, sqlite3.OperationalError("database or disk is full"))
    return real(self, local_id, **fields)
Ledger.update = update
"""
ENOSPC = """
import errno
from grokvid.api.download import writer
def full(fd, data):
    raise OSError(errno.ENOSPC, "No space left on device")
writer._write_all = full
"""
CRASH_AFTER_RENAME = """
from grokvid.api.download import files
def cut(directory):
    import os
    os._exit(137)
files.fsync_dir = cut
"""


def racing(tmp: Path) -> tuple[bool, str]:
    with user(tmp, "race") as u:
        made = u.run(
            "generate", "--no-wait", "-d", "1", "-o", "fox.mp4", f"{FOX} [sandbox:slow=60000]"
        )
        ident = made.stdout.strip()
        first = u.start("download", ident, "--wait")
        if not wait_for(
            lambda: (u.work / "fox.mp4.part.lock").exists() or first.poll() is not None
        ):
            return False, "first download never started"
        second = u.start("download", ident, "--wait")
        outs = [p.communicate(timeout=RUN_LIMIT) for p in (first, second)]
        codes = [first.returncode, second.returncode]
        problems = [f"exits {codes}"] if codes != [0, 0] else []
        if outs[0][0] != outs[1][0]:
            problems.append("different paths")
        gets = sum(
            1 for e in u.server.app.request_log if e.method == "GET" and "/v1/" not in e.path
        )
        if gets != 1:
            problems.append(f"{gets} downloads")
        return not problems, "; ".join(problems) or "one download, one path"


def forgotten(tmp: Path) -> tuple[bool, str]:
    with user(tmp, "forgot") as u:
        ident = u.run("generate", "--no-wait", "-d", "1", FOX).stdout.strip()
        u.server.app.forget_jobs()
        run = u.run("download", ident, "--wait")
        ok = run.code == 6 and ident in run.stderr and u.rows()[0]["state"] == "expired"
        return ok, f"exit {run.code}"


def planted(name: str) -> Check:
    def check(tmp: Path) -> tuple[bool, str]:
        with user(tmp, "link") as u:
            ident = u.run("generate", "--no-wait", "-d", "1", "-o", "fox.mp4", FOX).stdout.strip()
            victim = u.work / "victim.txt"
            victim.write_text("theirs")
            (u.work / name).symlink_to(victim)
            run = u.run("download", ident, "--wait", "--force")
            ok = run.code == 2 and "symbolic link" in run.stderr and victim.read_text() == "theirs"
            (u.work / name).unlink()
            again = u.run("download", ident, "--wait")
            ok = ok and again.code == 0
            return ok, f"exit {run.code} then {again.code}"

    return check


def broken_ledger(kind: str) -> Check:
    def check(tmp: Path) -> tuple[bool, str]:
        with user(tmp, "ledger") as u:
            path = u.home / "data" / "ledger.sqlite3"  # where GROKVID_HOME keeps it
            path.parent.mkdir(parents=True)
            if kind == "junk":
                path.write_bytes(b"junk" * 500)
            else:
                with sqlite3.connect(path) as db:
                    db.execute("CREATE TABLE other (x)")
                    db.execute("PRAGMA user_version = 2")  # says it is a v2 ledger: it is not
            run = u.run("generate", "-d", "1", FOX)
            errors = [line for line in run.stderr.splitlines() if "error:" in line]
            ok = run.code == 1 and len(errors) == 1 and str(path) in errors[0] and not u.posts()
            return ok, f"exit {run.code}: {errors[:1]}"

    return check


def faults() -> dict[str, list[tuple[str, Check]]]:
    submit = [
        "500", "502", "503", "504", "500-after", "502-after", "503-after", "504-after",
        "drop-before", "drop-after", "429", "429-retry-after=1", "429-credits", "delay=1",
    ]  # fmt: skip
    polls = ["poll:500", "poll:503", "poll:drop-before", "poll:429-retry-after=1", "poll:empty-202"]
    words = [
        "fail", "fail=invalid_argument", "moderate", "moderate-400", "forget-job", "expire-job",
        "empty-202", "expire-url=1", "truncate=1", "truncate=2",
    ]  # fmt: skip
    return {
        "submit fault": [(s, scripted(s)) for s in submit],
        "poll fault": [(p, scripted(p)) for p in polls],
        "job fault": [(w, worded(w)) for w in words],
        "time limit": [
            ("slow download, --timeout 2", bounded(f"{FOX} [sandbox:slow=3000]", 2)),
            ("submit Retry-After 30, --timeout 2", bounded(FOX, 2, faults=["429-retry-after=30"])),
            (
                "poll Retry-After 30, --timeout 3",
                bounded(FOX, 3, faults=["poll:429-retry-after=30"]),
            ),
            ("render longer than --timeout 2", bounded(f"{FOX} [sandbox:render=30]", 2)),
        ],
        "signal": [
            ("SIGKILL mid-render", killed(signal.SIGKILL)),
            ("SIGTERM mid-render", killed(signal.SIGTERM)),
            ("SIGINT twice mid-render", killed(signal.SIGINT, twice=True)),
            ("SIGKILL mid-download", killed(signal.SIGKILL, during="download")),
        ],
        "disk and ledger": [
            ("ledger full after the POST", patched("ledger", LEDGER_FULL, [])),
            ("ENOSPC writing the clip", patched("enospc", ENOSPC, ["--output-dir", "roomy"])),
            ("killed between rename and ledger", patched("rename", CRASH_AFTER_RENAME, [])),
            ("ledger not a database", broken_ledger("junk")),
            ("ledger without its table", broken_ledger("table")),
        ],
        "race and files": [
            ("two downloads of one job", racing),
            ("service forgot the job", forgotten),
            *[
                (f"link at {n}", planted(n))
                for n in ("fox.mp4", "fox.mp4.part", "fox.mp4.part.meta", "fox.mp4.part.lock")
            ],
        ],
    }


# --- the table -----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="runs of each fault (default 3)")
    parser.add_argument("--only", choices=["bad", "faults"], help="run one half only")
    parser.add_argument("--workers", type=int, default=2, help="runs at once (default 2)")
    args = parser.parse_args()
    tally: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    failures: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="grokvid-attack-") as scratch:
        tmp = Path(scratch)
        jobs: list[tuple[str, str, str, Callable[[], tuple[bool, str]]]] = []
        if args.only != "faults":
            for case in bad_inputs():
                jobs.append(("bad input", case.category, case.name, lambda c=case: try_bad(tmp, c)))
        if args.only != "bad":
            for category, checks in faults().items():
                for name, check in checks:
                    for _ in range(args.reps):
                        jobs.append(("fault", category, name, lambda c=check: c(tmp)))

        def one(job: tuple[str, str, str, Callable[[], tuple[bool, str]]]) -> None:
            kind, category, name, attempt = job
            try:
                ok, detail = attempt()
            except Exception as exc:  # the harness's own trouble counts against grokvid too
                ok, detail = False, f"harness: {type(exc).__name__}: {exc}"
            tally[(kind, category)][0] += 1
            if ok:
                tally[(kind, category)][1] += 1
            else:
                failures.append(f"{kind} / {category} / {name}: {detail}")

        with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
            list(pool.map(one, jobs))
    print(f"## grokvid attack ({time.monotonic() - started:.0f} s, {args.reps} runs per fault)\n")
    print("| kind | category | tried | handled | failed |")
    print("|---|---|---:|---:|---:|")
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (kind, category), (tried, handled) in sorted(tally.items()):
        print(f"| {kind} | {category} | {tried} | {handled} | {tried - handled} |")
        totals[kind][0] += tried
        totals[kind][1] += handled
    for kind, (tried, handled) in sorted(totals.items()):
        print(f"| **{kind}** | **all** | **{tried}** | **{handled}** | **{tried - handled}** |")
    if failures:
        print("\nFailures:")
        for line in sorted(failures):
            print(f"- {line}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
