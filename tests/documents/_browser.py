"""Drive the explorer in Debian's headless chromium: inject a driver script, dump the DOM, read its results.

The driver is added before ``</body>`` and allowed by its hash in the page's own
Content-Security-Policy (the production file carries no test hook). It writes its
results as JSON into ``<pre id="test-out">``, which ``--dump-dom`` returns.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
SKIP_REASON = "chromium is not installed (apt-get install -y chromium); the explorer's browser tests need it"


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def run_page(html: str, driver_js: str, tmp_path: Path, name: str = "page.html", timeout: int = 90):
    """Load ``html`` with ``driver_js`` run after the page's script; returns (results, dom)."""
    body = ("(function(){var out;try{out=(function(){" + driver_js + "})();}catch(e){out={error:String(e)+"
            "' '+(e.stack||'')};}var pre=document.createElement('pre');pre.id='test-out';"
            "pre.textContent=JSON.stringify(out);document.body.appendChild(pre);})();")
    assert "script-src " in html
    page = html.replace("script-src ", "script-src " + _sha(body) + " ", 1)
    page = page.replace("</body>", "<script>" + body + "</script>\n</body>", 1)
    path = tmp_path / name
    path.write_text(page, encoding="utf-8")
    res = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--disable-dev-shm-usage", "--virtual-time-budget=5000", "--dump-dom", path.as_uri()],
                         capture_output=True, text=True, timeout=timeout)
    m = re.search(r'<pre id="test-out">(.*?)</pre>', res.stdout, re.S)
    assert m, f"the driver wrote no results; chromium said: {res.stderr[-2000:]}"
    import html as _html

    out = json.loads(_html.unescape(m.group(1)))
    assert not (isinstance(out, dict) and "error" in out), out
    return out, res.stdout
