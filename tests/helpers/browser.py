"""Open a page in headless Chromium (Debian's package) and read back what it rendered."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

PROBE = """<script>window.addEventListener('load', () => {
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0);
  document.body.setAttribute('data-images', ok.length + '/' + imgs.length);
});</script>"""


def chromium() -> str:
    """The Chromium binary, or skip (``.ci/run`` installs it)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("Chromium is not installed (apt-get install chromium)")


def _run(args: list[str]) -> str:
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


def rendered_dom(page: Path, workdir: Path) -> str:
    """The DOM after load, with ``data-images="loaded/total"`` on <body> (from a probe in a copy)."""
    probe = workdir / f"probed-{page.name}"
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    return _run(["--virtual-time-budget=10000", "--dump-dom", probe.as_uri()])


def screenshot(page: Path, png: Path, width: int = 1200, height: int = 2400) -> Path:
    """A PNG of the page as Chromium draws it."""
    _run([f"--window-size={width},{height}", f"--screenshot={png}", page.as_uri()])
    return png


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.tables and self.tables[-1]:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables(dom: str) -> list[list[list[str]]]:
    """Every <table> of a DOM as rows of cell texts."""
    parser = _Tables()
    parser.feed(dom)
    return parser.tables
