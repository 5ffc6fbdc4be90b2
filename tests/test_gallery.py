"""The gallery page: cards from sidecars and the ledger, inlined posters, no remote URL."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from PIL import Image
from typer.testing import CliRunner

from grokvid.api.gallery import Card, cards_from_jobs, cards_from_sidecars, write_gallery
from grokvid.api.ledger import JobRecord, Ledger
from grokvid.api.previews import Caption, make_previews
from grokvid.cli.main import app
from grokvid.sandbox.render import render_clip

CLIPS = [
    # (name, prompt, width, height, minutes ago)
    ("fox", "a red fox trotting through fresh snow", 848, 480, 1),
    ("heron", "a heron lifting off a misty lake <script>alert(1)</script>", 480, 480, 5),
]


def make_clip_dir(folder: Path, cache: Path, *, previews: bool = False) -> Path:
    """Two sandbox clips with grokvid sidecars (the fox is the newer), as `generate` leaves them."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    for name, prompt, width, height, ago in CLIPS:
        clip = folder / f"{name}.mp4"
        shutil.copyfile(render_clip(prompt, 2, width, height, cache_dir=cache), clip)
        data = clip.read_bytes()
        sidecar = {
            "schema": "grokvid.clip/1",
            "local_id": f"gv-{name}0000",
            "model": "grok-imagine-video",
            "prompt": prompt,
            "request": {
                "duration": 2,
                "resolution": "480p",
                "aspect_ratio": "16:9",
                "generate_audio": True,
            },  # fmt: skip
            "downloaded_at": (now - timedelta(minutes=ago)).isoformat(),
            "file": {
                "name": clip.name,
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            },  # fmt: skip
            "cost": {"estimated_usd": 0.1, "actual_usd": 0.1, "actual_usd_ticks": 1_000_000_000},
        }
        clip.with_suffix(".json").write_text(json.dumps(sidecar), encoding="utf-8")
        if previews:
            make_previews(clip, caption=Caption.from_sidecar(sidecar))
    return folder


def moderated_job(folder: Path) -> JobRecord:
    return JobRecord(
        local_id="gv-modmod00",
        provider="xai",
        base_url="https://api.x.ai",
        model="grok-imagine-video",
        prompt="a heron in the rain",
        params={"duration": 3, "resolution": "480p"},
        state="moderated",
        created_at=datetime.now(UTC),
        error_code="moderated",
        error_message="The clip was filtered by the service's moderation (still billed).",
        output_path=str(folder / "heron-rain.mp4"),
    )


class Page(HTMLParser):
    """Collects what the assertions look at: cards, images, videos, every URL attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: list[dict[str, str | None]] = []
        self.images: list[str] = []
        self.videos: list[str] = []
        self.urls: list[str] = []
        self.csp = ""
        self.scripts_with_src = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "article":
            self.cards.append(a)
        if tag == "img":
            self.images.append(a["src"] or "")
        if tag == "video":
            self.videos.append(a["src"] or "")
        if tag == "script" and "src" in a:
            self.scripts_with_src += 1
        if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy":
            self.csp = a["content"] or ""
        self.urls += [v or "" for k, v in attrs if k in {"src", "href", "poster", "srcset"}]


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_a_card_per_clip_with_inlined_poster_and_relative_video(
    tmp_path: Path, clip_cache: Path
) -> None:
    folder = make_clip_dir(tmp_path / "clips", clip_cache, previews=True)
    out = write_gallery(cards_from_sidecars([folder]), tmp_path / "gallery.html")
    page = parse(out)
    assert [c["data-state"] for c in page.cards] == ["downloaded", "downloaded"]
    assert "red fox" in (page.cards[0]["data-text"] or "")  # newest first
    for src in page.images:
        assert src.startswith("data:image/jpeg;base64,")
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as poster:
            assert poster.width <= 320 and poster.height <= 320
    assert sorted(page.videos) == ["clips/fox.mp4", "clips/heron.mp4"]
    for src in page.videos:
        assert (out.parent / unquote(src)).is_file()
    assert all(not u.startswith(("http:", "https:", "//")) for u in page.urls), page.urls
    assert page.scripts_with_src == 0
    assert "default-src 'none'" in page.csp and "img-src data:" in page.csp
    text = out.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in text  # the prompt is escaped, not markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    fox = hashlib.sha256((folder / "fox.mp4").read_bytes()).hexdigest()
    assert fox in text and "$0.10" in text


def test_clips_without_previews_still_get_a_card(tmp_path: Path, clip_cache: Path) -> None:
    folder = make_clip_dir(tmp_path / "clips", clip_cache)
    out = write_gallery(cards_from_sidecars([folder]), folder / "index.html")
    page = parse(out)
    assert len(page.cards) == 2 and page.images == []
    assert sorted(page.videos) == ["fox.mp4", "heron.mp4"]
    assert "grokvid preview" in out.read_text(encoding="utf-8")


def test_failed_and_moderated_jobs_are_cards_with_their_error(tmp_path: Path) -> None:
    cards = cards_from_jobs([moderated_job(tmp_path)])
    assert cards[0].state == "moderated" and cards[0].video is None
    out = write_gallery(cards, tmp_path / "g.html")
    page = parse(out)
    assert page.cards[0]["data-state"] == "moderated"
    assert "filtered by the service&#x27;s moderation" in out.read_text(encoding="utf-8")


def test_a_sidecar_whose_clip_is_gone_shows_as_missing(tmp_path: Path, clip_cache: Path) -> None:
    folder = make_clip_dir(tmp_path / "clips", clip_cache)
    (folder / "heron.mp4").unlink()
    states = {c.id: c.state for c in cards_from_sidecars([folder])}
    assert states == {"gv-fox0000": "downloaded", "gv-heron0000": "missing"}


def test_cli_gallery_of_a_folder_includes_failed_ledger_jobs(
    tmp_path: Path, clip_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_clip_dir(tmp_path / "clips", clip_cache, previews=True)
    ledger = Ledger()
    job = ledger.create(provider="xai", base_url="https://api.x.ai", model="grok-imagine-video",
                        prompt="a storm", params={"duration": 3})  # fmt: skip
    ledger.update(job.local_id, state="submitting")
    ledger.update(job.local_id, state="pending", request_id="req-storm")
    ledger.update(job.local_id, state="failed", error_code="internal_error",
                  error_message="render crashed",
                  output_path=str(folder / "storm.mp4"))  # fmt: skip
    monkeypatch.chdir(folder)
    result = CliRunner().invoke(app, ["gallery"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(folder / "gallery.html")
    page = parse(folder / "gallery.html")
    assert sorted(c["data-state"] or "" for c in page.cards) == [
        "downloaded",
        "downloaded",
        "failed",
    ]
    assert "render crashed" in (folder / "gallery.html").read_text(encoding="utf-8")


def test_cli_gallery_from_the_ledger_by_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = Ledger()
    for prompt, batch in (("one", "b-1"), ("two", "b-1"), ("other", "b-2")):
        ledger.create(provider="xai", base_url="https://api.x.ai", model="m", prompt=prompt,
                      params={}, batch_id=batch)  # fmt: skip
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["gallery", "--batch", "b-1", "-o", "b1.html"])
    assert result.exit_code == 0, result.output
    assert len(parse(tmp_path / "b1.html").cards) == 2
    result = CliRunner().invoke(app, ["gallery", "--since", "1h", "-o", "recent.html"])
    assert result.exit_code == 0, result.output
    assert len(parse(tmp_path / "recent.html").cards) == 3


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--since", "yesterday"], ["--since", "90s, 30m"]),
        (["--batch", "nope"], ["--batch", "nope"]),
        (["somewhere-else"], ["somewhere-else", "not a folder"]),
        ([".", "--batch", "b"], ["DIR", "not both"]),
        (["-o", "no/such/dir/g.html"], ["--output", "does not exist"]),
    ],
)
def test_cli_gallery_bad_input_is_one_line_exit_2(
    args: list[str], names: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["gallery", *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("grokvid: error: ")
    for name in names:
        assert name in lines[0]


def test_card_totals_in_the_header(tmp_path: Path) -> None:
    cards = [Card(id=f"gv-{i}", state="downloaded", prompt="p", cost_usd=0.25) for i in range(3)]
    out = write_gallery(cards, tmp_path / "g.html")
    assert "3 clips · 3 downloaded · $0.75" in out.read_text(encoding="utf-8")
