"""The HTML documents pass an axe-core WCAG 2.2 AA scan in headless Chromium, and load nothing external.

Needs ``chromium`` (Debian package) and ``node`` with ``npm install`` run in ``tests/a11y``; skipped,
with the reason shown by ``-ra``, when any of them is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

A11Y = Path(__file__).resolve().parents[1] / "a11y"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
NODE = shutil.which("node")


def _missing() -> str | None:
    if not NODE:
        return "node is not installed (apt-get install -y nodejs npm)"
    if not CHROMIUM:
        return "chromium is not installed (apt-get install -y chromium)"
    if not (A11Y / "node_modules" / "axe-core").is_dir() or not (A11Y / "node_modules" / "playwright-core").is_dir():
        return "axe-core / playwright-core not installed (run: npm install --prefix tests/a11y)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=f"axe-core WCAG scan skipped: {_missing()}")


def _axe(files, tmp_path):
    out = tmp_path / "axe.json"
    env = {**os.environ, "CHROMIUM_PATH": CHROMIUM}
    res = subprocess.run([NODE, str(A11Y / "axe_check.js"), *map(str, files), "--json", str(out)],
                         capture_output=True, text=True, env=env, timeout=240)
    assert res.returncode in (0, 1), res.stdout + res.stderr
    return res, json.loads(out.read_text())


def test_letters_pass_wcag22_aa(letters_run, hmda_case, tmp_path):
    from _doc_helpers import write_apps
    from xai_reports import generate_letters

    apps = write_apps(hmda_case, tmp_path / "es.csv", language="es")
    es_out = tmp_path / "es"
    generate_letters(hmda_case["model"], apps, "finance_hmda_example", es_out, reference=hmda_case["reference"],
                     formats=("html",))
    files = [sorted(letters_run.glob("*.html"))[0], sorted(es_out.glob("*.html"))[0]]
    res, results = _axe(files, tmp_path)
    assert res.returncode == 0, res.stdout
    for r in results:
        assert r["violations"] == [] and r["external"] == [], r
        assert r["passes"] >= 10  # axe really ran its rules on the page
    assert 'lang="es"' in files[1].read_text()


def test_axe_finds_violations_in_a_bad_page(tmp_path):
    """Control: the same scan fails a page with an image lacking alt text, low contrast and an external load."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><title>x</title></head><body>'
                   '<img src="data:image/png;base64,iVBORw0KGgo=">'
                   '<p style="color:#bbb;background:#fff">faint</p>'
                   '<img src="http://127.0.0.1:9/x.png" alt="remote"></body></html>')
    res, results = _axe([bad], tmp_path)
    assert res.returncode == 1
    ids = {v["id"] for v in results[0]["violations"]}
    assert {"image-alt", "color-contrast", "html-has-lang"} <= ids, ids
    assert results[0]["external"] == ["http://127.0.0.1:9/x.png"]
