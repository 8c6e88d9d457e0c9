"""The built book in a real browser: every page loads with no broken image, no JavaScript error, no
request to a remote host (other than the Colab badge image), and no math left untypeset.

Run by ``make test`` after the book is built (``make browser-test``), not by the unit-test run:
``pytest tests/browser --book _build/check/_build/html``. It uses Debian's ``chromium`` through
Playwright (``make browser-test`` installs the package with apt when it is missing) and serves the book
from a local HTTP server, as GitHub Pages would. Screenshots of every page go to ``--shots``
(default ``_build/browser``); look at them.
"""
from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

playwright = pytest.importorskip("playwright.sync_api")

ALLOWED_REMOTE = ("https://colab.research.google.com/assets/colab-badge.svg",)

# After MathJax has finished: images that did not load, and math spans it did not typeset.
PAGE_CHECKS = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const broken = [...document.images]
    .filter(img => !img.src.includes('colab-badge.svg'))
    .filter(img => !img.complete || img.naturalWidth === 0)
    .map(img => img.getAttribute('src'));
  const math = [...document.querySelectorAll('.math')];
  const untypeset = math.filter(el => !el.querySelector('mjx-container'))
    .map(el => el.textContent.slice(0, 60));
  return {broken, untypeset, math: math.length, mathjax: !!window.MathJax};
}"""


def pages(html: Path) -> list[Path]:
    """Every page of the book (not Sphinx's index and search pages, nor the root's redirect)."""
    return sorted(p for p in html.rglob("*.html")
                  if not {"_static", "_sources", "_images"} & set(p.relative_to(html).parts)
                  and p.name not in {"genindex.html", "search.html"}
                  and 'http-equiv="Refresh"' not in p.read_text(errors="replace")[:2000])


@pytest.fixture(scope="module")
def site(request):
    html = Path(request.config.getoption("--book")).resolve()
    if not (html / "index.html").is_file():
        pytest.fail(f"no built book at {html}: run `make book-check` first (or pass --book)")
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield html, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no request log in the test output
        pass


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("chromium is not installed: `make browser-test` installs it (apt-get install chromium)")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield b
        b.close()


def check_page(browser, base: str, rel: str, shots: Path) -> list[str]:
    """Load one page; return what is wrong with it (nothing when it is fine)."""
    problems: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})

    def route(r) -> None:
        url = r.request.url
        if urlparse(url).hostname in ("127.0.0.1", "localhost") or url.startswith("data:"):
            r.continue_()
        else:
            if not url.startswith(ALLOWED_REMOTE):
                problems.append(f"request to a remote host: {url}")
            r.abort()  # the test runs offline either way

    page.route("**/*", route)
    page.on("pageerror", lambda err: problems.append(f"JavaScript error: {err}"))
    page.on("console", lambda msg: msg.type == "error" and not _is_aborted_badge(msg.text)
            and problems.append(f"console error: {msg.text}"))
    page.on("response", lambda resp: resp.status >= 400
            and problems.append(f"HTTP {resp.status}: {resp.url}"))
    page.goto(f"{base}/{rel}", wait_until="load")
    result = page.evaluate(PAGE_CHECKS)
    problems += [f"broken image: {src}" for src in result["broken"]]
    if result["math"] and not result["mathjax"]:
        problems.append(f"{result['math']} math element(s) but MathJax did not load")
    problems += [f"math not typeset: {text!r}" for text in result["untypeset"]]
    shot = shots / (rel.replace("/", "__").removesuffix(".html") + ".png")
    page.screenshot(path=str(shot), full_page=False)
    page.close()
    return problems


def _is_aborted_badge(text: str) -> bool:
    # The aborted badge request is logged by the browser as a failed resource load.
    return "net::ERR_FAILED" in text or "Failed to load resource" in text


def test_every_page_of_the_book_is_clean(site, browser, request):
    html, base = site
    shots = Path(request.config.getoption("--shots"))
    shots.mkdir(parents=True, exist_ok=True)
    found = {}
    for path in pages(html):
        rel = path.relative_to(html).as_posix()
        problems = check_page(browser, base, rel, shots)
        if problems:
            found[rel] = problems
    report = "\n".join(f"{rel}:\n  " + "\n  ".join(p[:10]) for rel, p in found.items())
    assert not found, f"{len(found)} page(s) with problems (screenshots in {shots}):\n{report}"


def test_the_book_has_every_lecture_page(site):
    html, _ = site
    rels = {p.relative_to(html).as_posix() for p in pages(html)}
    assert "book/intro.html" in rels
    lectures = sorted(Path(request_root()).glob("notebooks/[0-9][0-9]_*.ipynb"))
    missing = [nb.stem for nb in lectures if f"notebooks/{nb.stem}.html" not in rels]
    assert not missing, f"lectures without a page in the built book: {missing}"


def request_root() -> Path:
    return Path(__file__).resolve().parents[2]
