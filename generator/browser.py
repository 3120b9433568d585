"""The built site in a real browser: site/ served on 127.0.0.1, Debian's Chromium driven by Playwright.

Playwright cannot download its own browser here (and must not: nothing is fetched at run time), so it drives the
system's `chromium`, in a fresh profile that has no reason to reach anything but the site. Used by the browser
tests and `invoke screenshots`.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from generator.model import REPO

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SITE = REPO / "site"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


class SubPathHandler(QuietHandler):
    """The directory served under a sub-path (e.g. /k8s/runbooks/), and its 404.html, with status 404, for anything
    missing there: what a web server does with `error_page 404 /k8s/runbooks/404.html`."""

    def __init__(self, *args: Any, prefix: str, **kwargs: Any) -> None:
        self.prefix = prefix  # set first: the base class answers the request in its __init__
        super().__init__(*args, **kwargs)

    def translate_path(self, path: str) -> str:
        return super().translate_path(path.removeprefix(self.prefix.rstrip("/")))

    def send_head(self) -> Any:
        if self.path.startswith(self.prefix) and Path(self.translate_path(self.path)).exists():
            return super().send_head()
        page = (Path(self.directory) / "404.html").read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        return io.BytesIO(page)


@contextlib.contextmanager
def serve(directory: Path = SITE, port: int = 0, prefix: str = "") -> Iterator[str]:
    """Serve `directory` on 127.0.0.1 (port 0: a free one) while the block runs; yields the base URL. With a
    `prefix`, under that sub-path, with the directory's 404.html for what is missing (SubPathHandler)."""
    handler: Any = (functools.partial(SubPathHandler, directory=str(directory), prefix=prefix) if prefix
                    else functools.partial(QuietHandler, directory=str(directory)))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{prefix or '/'}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def chromium(**context: Any) -> Iterator[Any]:
    """A Playwright browser context of the system Chromium with a fresh profile."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="runbook-chromium-") as profile, sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=ARGS, **context)
        try:
            yield browser
        finally:
            browser.close()


def shots(cluster: str = "example") -> dict[str, str]:
    """Screenshot name → page path: the cluster's overview and kube-scheduler chapter, in both languages."""
    from generator import catalog
    from generator.model import load
    from generator.site.layout import cluster_path
    from generator.site.words import LANGS

    chapter = next(ch for ch in catalog.chapters(load(cluster)) if ch.id == "kube-scheduler")
    pages = {"overview": "", "kube-scheduler": f"{chapter.page}/"}
    return {f"{name}.{lang}.png": cluster_path(cluster, lang) + path
            for name, path in pages.items() for lang in LANGS}


def screenshots(out: Path, site: Path = SITE) -> list[Path]:
    """The overview and the kube-scheduler chapter in both languages, 1280 px wide, as a reader first sees them."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with serve(site) as base, chromium(viewport={"width": 1280, "height": 900}) as browser:
        page = browser.new_page()
        for name, path in shots().items():
            page.goto(base + path, wait_until="load")
            page.screenshot(path=str(out / name))
            written.append(out / name)
    return written
