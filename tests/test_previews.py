"""Poster, contact sheet and animated WebP: opened with Pillow and measured, not trusted."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import av
import pytest
from PIL import Image, ImageChops, ImageStat
from typer.testing import CliRunner

from grokvid.api.ledger import Ledger
from grokvid.api.previews import (
    Caption,
    PreviewFailed,
    PreviewSet,
    PreviewUnavailable,
    compose,
    make_previews,
    preview_paths,
    record_in_sidecar,
)
from grokvid.api.previews.frames import fit
from grokvid.api.previews.grid import make_matrix_grid
from grokvid.cli.main import app
from grokvid.sandbox.render import render_clip

CAPTION = Caption(prompt="a red fox\nsecond line", model="grok-imagine-video", duration=3,
                  resolution="480p", aspect_ratio="16:9", cost_usd=0.15)  # fmt: skip


def _fox(folder: Path, cache: Path) -> Path:
    """A 3 s 848x480 sandbox clip with a grokvid sidecar beside it."""
    path = folder / "fox.mp4"
    shutil.copyfile(render_clip("a red fox", 3, 848, 480, cache_dir=cache), path)
    sidecar = {"schema": "grokvid.clip/1", "prompt": "a red fox", "file": {"name": path.name}}
    path.with_suffix(".json").write_text(json.dumps(sidecar), encoding="utf-8")
    return path


@pytest.fixture
def clip(tmp_path: Path, clip_cache: Path) -> Path:
    return _fox(tmp_path, clip_cache)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, sandbox_clip_cache: Path) -> PreviewSet:
    """One set of pictures for the tests that only look at them."""
    return make_previews(_fox(tmp_path_factory.mktemp("fox"), sandbox_clip_cache), caption=CAPTION)


def _frame(path: Path, index: int) -> Image.Image:
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                image: Image.Image = frame.to_image()
                return image
    raise AssertionError("frame not found")


def _difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean)


def _runs(values: list[bool]) -> int:
    """How many separate stretches of True."""
    return sum(1 for i, v in enumerate(values) if v and (i == 0 or not values[i - 1]))


def test_poster_is_the_frame_at_a_quarter_at_the_clips_size(made: PreviewSet) -> None:
    clip = made.clip
    with Image.open(made.poster.path) as poster:
        assert poster.format == "JPEG" and poster.size == (848, 480)
        at_quarter = _difference(poster, _frame(clip, 18))  # 0.75 s at 24 fps
        at_start = _difference(poster, _frame(clip, 0))
    assert at_quarter < 4 < at_start, (at_quarter, at_start)
    assert made.poster_at == pytest.approx(0.75)


def test_sheet_holds_eight_stamped_tiles_in_four_by_two(made: PreviewSet) -> None:
    tile_w, tile_h = fit(848, 480, 400, 400)
    with Image.open(made.sheet.path) as sheet:
        rgb = sheet.convert("RGB")
    assert rgb.width == 4 * tile_w + 5 * compose.GAP
    bottom = rgb.height - compose.GAP
    tile_rows = [bottom - tile_h // 2, bottom - tile_h - compose.GAP - tile_h // 2]

    def busy(x: int, y: int) -> bool:  # not the sheet's dark background (JPEG wobbles a little)
        pixel = rgb.getpixel((x, y))
        assert isinstance(pixel, tuple)
        return sum(abs(c - b) for c, b in zip(pixel, compose.BACKGROUND, strict=True)) > 40

    for y in tile_rows:
        assert _runs([busy(x, y) for x in range(rgb.width)]) == 4
    x_mid = compose.GAP + tile_w // 2
    column = [busy(x_mid, y) for y in range(bottom - 2 * tile_h - compose.GAP, rgb.height)]
    assert _runs(column) == 2
    assert made.tile_times == pytest.approx([(i + 0.5) * 3 / 8 for i in range(8)], abs=1 / 24)
    first, last = (rgb.crop((compose.GAP, y - 20, compose.GAP + tile_w, y + 20)) for y in tile_rows)
    assert _difference(first, last) > 1, "the tiles show different moments"


def test_webp_loops_at_12_fps_within_480_px_and_2_mb(made: PreviewSet) -> None:
    with Image.open(made.animation.path) as anim:
        assert anim.format == "WEBP" and anim.is_animated
        assert anim.n_frames == 36  # 3 s at 12 fps
        assert anim.width <= 480 and anim.size == fit(848, 480, 480, 480)
        anim.seek(1)
        anim.load()  # WebP reports a frame's duration once it is read
        assert anim.info["loop"] == 0 and anim.info["duration"] == 83
    assert made.animation.path.stat().st_size <= 2 * 1024 * 1024


def test_webp_over_the_byte_limit_trades_quality_and_frames(
    clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compose, "MAX_WEBP_BYTES", 40_000)
    made = make_previews(clip, caption=CAPTION)
    assert made.animation.bytes <= 40_000
    with Image.open(made.animation.path) as anim:
        assert anim.n_frames == made.frames < 36 or anim.width < 480


def test_sidecar_records_the_pictures(made: PreviewSet) -> None:
    clip = made.clip
    assert record_in_sidecar(clip.with_suffix(".json"), made)
    data = json.loads(clip.with_suffix(".json").read_text(encoding="utf-8"))
    assert data["prompt"] == "a red fox"  # the rest of the sidecar is kept
    previews = data["previews"]
    for kind, path in preview_paths(clip).items():
        assert previews[kind]["name"] == path.name
        assert previews[kind]["bytes"] == path.stat().st_size
        with Image.open(path) as image:
            assert [previews[kind]["width"], previews[kind]["height"]] == list(image.size)
    assert previews["sheet"]["tiles"] == 8 and previews["animation"]["frames"] == 36


def test_current_pictures_are_kept_and_force_remakes_them(clip: Path) -> None:
    first = make_previews(clip, caption=CAPTION)
    stamp = first.poster.path.stat().st_mtime_ns
    again = make_previews(clip, caption=CAPTION)
    assert again.reused and first.poster.path.stat().st_mtime_ns == stamp
    assert again.animation.height == first.animation.height and again.frames == 36
    forced = make_previews(clip, caption=CAPTION, force=True)
    assert not forced.reused


def test_an_undecodable_clip_fails_cleanly_and_is_kept(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\0\0\0\x18ftypisom" + b"garbage" * 1000)
    with pytest.raises(PreviewFailed, match="broken.mp4"):
        make_previews(broken, caption=CAPTION)
    assert broken.is_file()
    assert not any(p.exists() for p in preview_paths(broken).values())


def test_missing_pillow_names_the_install_command(
    clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)  # import PIL now raises ImportError
    with pytest.raises(PreviewUnavailable, match=r"pip install 'grokvid\[preview\]'"):
        make_previews(clip, caption=CAPTION)


def test_matrix_grid_places_posters_by_axis(tmp_path: Path, clip: Path) -> None:
    poster = make_previews(clip, caption=CAPTION).poster.path
    cells = {("5", "480p"): poster, ("8", "480p"): poster, ("5", "720p"): poster,
             ("8", "720p"): None}  # fmt: skip
    grid = make_matrix_grid(cells, x_axis=("duration", ["5", "8"]),
                            y_axis=("resolution", ["480p", "720p"]), out=tmp_path / "b.grid.jpg",
                            notes={("8", "720p"): "moderated"})  # fmt: skip
    with Image.open(grid.path) as image:
        assert image.size == (grid.width, grid.height)
        w, h = fit(848, 480, 320, 320)
        assert image.width > 2 * w and image.height > 2 * h
        # The bottom-right cell is the grey "moderated" box, the one left of it a poster.
        right = image.crop((image.width - w, image.height - h, image.width - 8, image.height - 8))
        assert max(ImageStat.Stat(right).stddev) < 25
        left = image.crop((image.width - 2 * w - 8, image.height - h, image.width - w - 16,
                           image.height - 8))  # fmt: skip
        assert _difference(left, right) > 5


def test_cli_preview_by_job_id_and_by_file(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = Ledger()
    job = ledger.create(provider="xai", base_url="https://api.x.ai", model="m",
                        prompt="a red fox", params={"duration": 3})  # fmt: skip
    for step in ("submitting", "pending", "done"):  # the ledger only moves a job forward
        ledger.update(job.local_id, state=step)
    ledger.update(job.local_id, state="downloaded", output_path=str(clip))
    result = CliRunner().invoke(app, ["preview", job.local_id])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [str(p) for p in preview_paths(clip).values()]
    assert "previews" in json.loads(clip.with_suffix(".json").read_text(encoding="utf-8"))
    result = CliRunner().invoke(app, ["preview", "--json", "--force", str(clip)])
    view = json.loads(result.stdout)
    assert view["reused"] is False and view["previews"]["poster"].endswith("fox.poster.jpg")


def test_cli_preview_warns_on_a_broken_clip_and_goes_on(clip: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    result = CliRunner().invoke(app, ["preview", str(broken), str(clip)])
    assert result.exit_code == 1
    assert "warning: no previews for" in result.stderr and "broken.mp4" in result.stderr
    assert len(result.stdout.splitlines()) == 3  # the good clip's pictures


@pytest.mark.parametrize(
    ("target", "words"),
    [("nowhere/fox.mp4", "does not exist"), ("gv-zzzzzzzz", "No job"), ("gv-1", "too short")],
)
def test_cli_preview_bad_target_is_one_line_exit_2(target: str, words: str) -> None:
    result = CliRunner().invoke(app, ["preview", target])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and words in result.stderr
