"""The gallery in real headless Chromium, from file://, with every network request watched.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe: commands on
fd 3, answers on fd 4), so the test sees each request the page makes (Network.requestWillBeSent)
and can evaluate the DOM. DNS is also mapped to nothing, so a request that slipped through could
not reach anyone. A control page with a remote image proves the request check can fail.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from grokvid.api.gallery import cards_from_jobs, cards_from_sidecars, write_gallery

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Chromium is not installed (apt-get install chromium; .ci/run installs it)",
    ),
]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--remote-debugging-pipe",
]


class Browser:
    """The smallest DevTools client: send a command, read events until its answer arrives."""

    def __init__(self, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Above 10, so wiring them to 3 and 4 in the child can't overwrite one with the other.
        high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
        high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
        os.close(to_browser_r)
        os.close(from_browser_w)

        def wire_fds() -> None:  # runs in the child: Chromium reads fd 3, writes fd 4
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        assert CHROMIUM is not None
        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=wire_fds,
            pass_fds=(3, 4),  # kept open through the exec; everything else is closed
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(high_r)
        os.close(high_w)
        self._buffer = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def send(self, method: str, timeout: float = 10, **params: Any) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if self.session is not None and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read(timeout)
            if reply.get("id") == self._next:
                assert "error" not in reply, reply
                result: dict[str, Any] = reply["result"]
                return result
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 10) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                self.events.remove(event)
                return event
        while True:
            event = self._read(timeout)
            self.events.append(event)
            if event.get("method") == method:
                self.events.remove(event)
                return event

    def _read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise EOFError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        parsed: dict[str, Any] = json.loads(raw)
        return parsed

    def requested_urls(self) -> list[str]:
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]

    def open(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        answer = self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        assert "exceptionDetails" not in answer, answer
        return answer["result"].get("value")

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (TimeoutError, EOFError, OSError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """One browser for the module: starting Chromium is most of this file's time."""
    chrome = Browser(tmp_path_factory.mktemp("profile"))
    try:
        target = chrome.send("Target.createTarget", url="about:blank")["targetId"]
        chrome.session = chrome.send("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Network", "Runtime", "Log"):
            chrome.send(f"{domain}.enable")
        yield chrome
    finally:
        chrome.close()


def _gallery(tmp_path: Path, clip_cache: Path) -> Path:
    from test_gallery import make_clip_dir, moderated_job

    folder = make_clip_dir(tmp_path / "clips", clip_cache, previews=True)
    cards = cards_from_sidecars([folder]) + cards_from_jobs([moderated_job(folder)])
    return write_gallery(cards, folder / "gallery.html")


CHECK = """(async () => {
  const posters = [...document.querySelectorAll('img.poster')];
  const decoded = await Promise.all(posters.map(i => i.decode().then(() => true, () => false)));
  const v = document.querySelector('video');
  let videoWidth = -1;
  if (v) {
    v.preload = 'metadata';
    videoWidth = await new Promise(done => {
      v.addEventListener('loadedmetadata', () => done(v.videoWidth), {once: true});
      v.addEventListener('error', () => done(0), {once: true});
      v.load();
      setTimeout(() => done(-2), 5000);
    });
  }
  const visible = () => [...document.querySelectorAll('.card')].filter(c => !c.hidden).length;
  const st = document.getElementById('state');
  st.value = 'moderated'; st.dispatchEvent(new Event('change'));
  const moderated = visible();
  st.value = ''; st.dispatchEvent(new Event('change'));
  const q = document.getElementById('q');
  q.value = 'MISTY Lake'; q.dispatchEvent(new Event('input'));
  const searched = visible();
  q.value = ''; q.dispatchEvent(new Event('input'));
  return {cards: document.querySelectorAll('article.card').length, decoded,
          sizes: posters.map(i => [i.naturalWidth, i.naturalHeight]),
          videos: [...document.querySelectorAll('video')].map(v => v.getAttribute('src')),
          videoWidth, moderated, searched, shown: document.getElementById('shown').textContent,
          wide: document.documentElement.scrollWidth, viewport: window.innerWidth};
})()"""


def test_gallery_opens_offline_in_chromium(
    browser: Browser, tmp_path: Path, clip_cache: Path
) -> None:
    page = _gallery(tmp_path, clip_cache)
    browser.send("Emulation.setDeviceMetricsOverride", width=390, height=844,
                 deviceScaleFactor=1, mobile=True)  # fmt: skip
    browser.open(page.as_uri())
    seen = browser.evaluate(CHECK)
    assert seen["cards"] == 3  # two clips and one moderated job
    assert seen["decoded"] == [True, True]
    assert all(0 < w <= 320 and h > 0 for w, h in seen["sizes"]), seen["sizes"]
    assert all(src and not src.startswith(("http", "/")) for src in seen["videos"])
    assert seen["videoWidth"] == 848, "the first clip's <video> loaded its local MP4"
    assert seen["moderated"] == 1 and seen["searched"] == 1
    assert seen["shown"] == "3 of 3 shown"
    assert seen["wide"] <= seen["viewport"], "no sideways scrolling on a phone"
    shot = base64.b64decode(browser.send("Page.captureScreenshot", format="png")["data"])
    (tmp_path / "gallery-phone.png").write_bytes(shot)
    with Image.open(io.BytesIO(shot)) as image:
        assert image.size == (390, 844)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 50, "the screenshot shows a rendered page"
    urls = browser.requested_urls()
    assert urls, "the request log saw the page itself"
    assert all(u.startswith(("file:", "data:")) for u in urls), urls
    errors = [e for e in browser.events if e.get("method") == "Runtime.exceptionThrown"]
    assert errors == []


def test_the_request_check_catches_a_remote_fetch(browser: Browser, tmp_path: Path) -> None:
    """The control: a page with a remote image is caught by the same check."""
    leaky = tmp_path / "leaky.html"
    leaky.write_text('<img src="http://cdn.example.com/a.png"><p>hi</p>', encoding="utf-8")
    browser.open(leaky.as_uri())
    urls = browser.requested_urls()
    assert "http://cdn.example.com/a.png" in urls
