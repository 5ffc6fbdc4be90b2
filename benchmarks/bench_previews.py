"""Speed of the pictures and the gallery; prints a Markdown table (targets from the issue).

    python benchmarks/bench_previews.py            # pins itself to one core where it can

- all three pictures of an 8 s 720p clip: ≤ 1.0 s on one core (best of 3, a fresh process's
  first call, imports included, is reported too);
- a gallery of 500 clips: written in ≤ 3 s, at most 20 MB;
- `grokvid --version` and `generate --help` import none of PyAV, Pillow or the preview code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        return "pinned to 1 core"
    return "not pinned (no sched_setaffinity)"


def _clip(work: Path) -> Path:
    from grokvid.sandbox.render import render_clip

    source = render_clip("a red fox trotting through fresh snow", 8, 1280, 720,
                         cache_dir=work / "cache")  # fmt: skip
    clip = work / "fox.mp4"
    shutil.copyfile(source, clip)
    return clip


def bench_pictures(clip: Path) -> tuple[float, float]:
    first = subprocess.run(
        [sys.executable, "-c",
         "import sys, time; t = time.perf_counter()\n"
         "from pathlib import Path\n"
         "from grokvid.api.previews import Caption, make_previews\n"
         "make_previews(Path(sys.argv[1]), caption=Caption(prompt='fox'), force=True)\n"
         "print(time.perf_counter() - t)", str(clip)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    from grokvid.api.previews import Caption, make_previews

    times = []
    for _ in range(3):
        start = time.perf_counter()
        make_previews(clip, caption=Caption(prompt="fox", duration=8, resolution="720p"),
                      force=True)  # fmt: skip
        times.append(time.perf_counter() - start)
    return min(times), float(first.stdout.strip())


def bench_gallery(clip: Path, work: Path, count: int = 500) -> tuple[float, int]:
    from grokvid.api.gallery import cards_from_sidecars, write_gallery
    from grokvid.api.previews import preview_paths

    folder = work / "many"
    folder.mkdir()
    pictures = preview_paths(clip)
    for i in range(count):
        name = f"clip-{i:03d}"
        (folder / f"{name}.mp4").symlink_to(clip)
        for kind, path in pictures.items():
            suffix = {"poster": ".poster.jpg", "sheet": ".sheet.jpg", "animation": ".preview.webp"}
            (folder / f"{name}{suffix[kind]}").symlink_to(path)
        sidecar = {"schema": "grokvid.clip/1", "local_id": f"gv-{i:08d}",
                   "prompt": f"clip number {i}: a red fox trotting through fresh snow",
                   "model": "grok-imagine-video",
                   "request": {"duration": 8, "resolution": "720p", "aspect_ratio": "16:9"},
                   "file": {"name": f"{name}.mp4", "bytes": 1, "sha256": "ab" * 32},
                   "cost": {"actual_usd": 0.4}}  # fmt: skip
        (folder / f"{name}.json").write_text(json.dumps(sidecar), encoding="utf-8")
    start = time.perf_counter()
    out = write_gallery(cards_from_sidecars([folder]), work / "gallery.html")
    return time.perf_counter() - start, out.stat().st_size


def light_imports() -> str:
    heavy = ["av", "PIL", "grokvid.api.previews", "grokvid.api.gallery", "grokvid.api.github_ci"]
    found = []
    for args in (["--version"], ["generate", "--help"]):
        code = (
            "import sys\nfrom grokvid.cli.main import main\n"
            f"sys.argv = ['grokvid', *{args!r}]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"sys.stderr.write(','.join(m for m in {heavy!r} if m in sys.modules))\n"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        found += [f"{' '.join(args)}: {result.stderr}"] if result.stderr else []
    return "; ".join(found) or "none"


def main() -> None:
    pinned = _one_core()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip = _clip(work)
        best, cold = bench_pictures(clip)
        seconds, size = bench_gallery(clip, work)
        loaded = light_imports()
    rows = [
        ("3 pictures, 8 s 720p clip (best of 3)", f"{best:.2f} s", "≤ 1.0 s", best <= 1.0),
        ("3 pictures, first call in a fresh process (imports included)", f"{cold:.2f} s", "—",
         None),
        ("gallery of 500 clips: write time", f"{seconds:.2f} s", "≤ 3 s", seconds <= 3),
        ("gallery of 500 clips: file size", f"{size / 1e6:.1f} MB", "≤ 20 MB", size <= 20e6),
        ("preview modules loaded by --version / generate --help", loaded, "none",
         loaded == "none"),
    ]  # fmt: skip
    print(f"grokvid previews benchmark ({pinned}, Python {sys.version.split()[0]})\n")
    print("| metric | value | target | verdict |\n|---|---|---|---|")
    for name, value, target, ok in rows:
        verdict = "info" if ok is None else "ok" if ok else "**MISS**"
        print(f"| {name} | {value} | {target} | {verdict} |")


if __name__ == "__main__":
    main()
