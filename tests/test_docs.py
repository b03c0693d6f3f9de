"""The documentation site builds, strictly, and renders in a real browser.

``test_docs_build_and_render`` runs the same command as ``./run.sh docs`` (``docs/build_docs.py``,
``sphinx-build -E -W --keep-going -n``: any warning or broken cross-reference fails it) into a
temporary folder. The notebooks are not executed a second time: the build takes them from
``.cache/executed_notebooks/``, where the notebook tests store them; a notebook that is not there
yet (this test ran first, on the other xdist worker) is executed by the build and then reused by
the notebook test of this same run (``docs/notebook_cache.py``, per-notebook locks).

Then it checks the built pages (figures present, no resource loaded from the network, MathJax
bundled) and opens a notebook page in headless Chromium (Debian's ``chromium``; ``.ci/run``
installs it) served from localhost: the DOM after the scripts ran must hold MathJax's typeset
math and no raw TeX, and a screenshot is written to ``.cache/docs_screenshot.png`` for a person to
look at. Without Chromium the browser part is skipped, except in CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))
import notebook_cache  # noqa: E402

#: the page opened in the browser: math in its first cell, its first figures within 4000 pixels
SCREENSHOT_PAGE = "notebooks/02_pmm_from_scratch.html"
SCREENSHOT = ROOT / ".cache" / "docs_screenshot.png"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--virtual-time-budget=20000"]
EXTERNAL = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["'](?:https?:)?//""", re.I)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "html"
    # the notebooks the build executes count as executed in this pytest run (see notebook_cache.run_id)
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTEST_XDIST_TESTRUNUID": notebook_cache.run_id()}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "build_docs.py"), "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=3000)
    print(f"docs build: {time.perf_counter() - start:.0f} s\n{proc.stdout[-2000:]}")
    assert proc.returncode == 0, f"docs build failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    index = Path(proc.stdout.strip().splitlines()[-1])
    assert index == out / "index.html" and index.exists(), proc.stdout[-2000:]
    return out


@pytest.mark.slow
def test_docs_build_and_render(site):
    # every notebook is a page, with its figures as image files
    for nb in notebook_cache.notebooks():
        page = site / "notebooks" / f"{nb.stem}.html"
        assert page.exists(), f"no page for {nb.name}"
        html = page.read_text(encoding="utf-8")
        images = re.findall(r'<img[^>]+src="([^"]+\.png)"', html)
        assert images, f"{page.name}: no figure"
        for src in images:
            assert (page.parent / src).resolve().exists(), f"{page.name}: missing figure {src}"
    # the API reference and the guides are there; math is marked up for MathJax
    api = (site / "api" / "conjugate.html").read_text(encoding="utf-8")
    assert "pmm_ppl.conjugate.normal_normal.NormalNormal" in api and 'class="math' in api
    assert (site / "adding_a_pair.html").exists() and (site / "overview.html").exists()
    # offline: MathJax is bundled; no page loads a script, style or image from the network
    assert (site / "_static" / "mathjax" / "tex-chtml.js").exists()
    for page in site.rglob("*.html"):
        found = EXTERNAL.search(page.read_text(encoding="utf-8"))
        assert not found, f"{page.relative_to(site)} loads from the network: {found.group(0)}"

    chromium = _chromium()
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium package)")
        pytest.skip("chromium not installed: `apt-get install chromium` to check the rendering")
    missing = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def send_error(self, code, *args, **kwargs):
            if not self.path.startswith("/favicon.ico"):
                missing.append((code, self.path))
            super().send_error(code, *args, **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{SCREENSHOT_PAGE}"
    try:
        with tempfile.TemporaryDirectory() as profile:
            dom = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                                 capture_output=True, text=True, timeout=180).stdout
        SCREENSHOT.parent.mkdir(exist_ok=True)
        SCREENSHOT.unlink(missing_ok=True)
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={SCREENSHOT}",
                            "--window-size=1280,4000", url], capture_output=True, text=True, timeout=180)
    finally:
        server.shutdown()
    assert not missing, f"the page requested files that the site lacks: {missing}"
    # MathJax ran: typeset math (CHTML output elements), and no TeX left between \( \) delimiters
    assert dom.count("<mjx-container") >= 10, f"MathJax did not typeset the page (dom of {len(dom)} chars)"
    assert "\\(" not in dom and "$$" not in dom, "raw TeX left on the page"
    assert dom.count("<img") >= 1
    assert SCREENSHOT.exists() and SCREENSHOT.stat().st_size > 50_000, "no screenshot (or a blank one)"
