"""The explorer page: one self-contained HTML file (inline script and style, no network).

The data travel as a JSON block (``<script type="application/json">``, not executed); the
hand-written script and style are inlined and allowed by their SHA-256 hashes in a
Content-Security-Policy that forbids every fetch (``default-src 'none'``). The bytes depend
only on the inputs: no clock, no process, no locale.
"""

from __future__ import annotations

import base64
import hashlib
import json
from html import escape
from importlib import resources
from pathlib import Path

from ...io.outputs import atomic_write

__all__ = ["explorer_html", "write_explorer", "csp_for"]


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def csp_for(scripts, styles) -> str:
    """A Content-Security-Policy allowing exactly these inline scripts and styles, and no network."""
    return ("default-src 'none'; script-src " + " ".join(_hash(s) for s in scripts) + "; style-src "
            + " ".join(_hash(s) for s in styles) + "; img-src data:; base-uri 'none'; form-action 'none'; "
            "connect-src 'none'; frame-src 'none'; object-src 'none'")


def _json_block(data) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    # never end the block early, never open a comment
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def explorer_html(data: dict) -> str:
    """The page for :func:`~xai_reports.documents.explorer.data.explorer_data`'s ``data``."""
    script, style = _asset("explorer.js"), _asset("explorer.css")
    lang = escape(str(data.get("pack", {}).get("language") or "en"))
    title = escape(data["title"])
    privacy = data.get("privacy", {})
    hidden = privacy.get("hidden_columns") or []
    shown = list(data.get("rows", {}).get("identity") or {})
    priv = ("Identifying columns are not in this file: " + escape(", ".join(hidden)) + "." if hidden
            else "This file shows identifying columns (allowed by its author): " + escape(", ".join(shown)) + "."
            if shown else "No identifying columns were found in the data.")
    priv += " Decisions are listed by " + escape(privacy.get("ids", "decision ids")) + "."
    skipped = data.get("n_skipped", 0)
    skipped_note = f"<p class=\"note\">{skipped} row(s) of the data had invalid values and are not shown.</p>" \
        if skipped else ""
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp_for([script], [style])}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p class="note">Pack {escape(str(data['pack']['name']))} {escape(str(data['pack']['version']))}; explanation:
{escape(str(data['explanation']['method']))} against {escape(str(data['explanation']['reference']))}.
This file works offline: it loads nothing from the network. {priv}</p>
{skipped_note}
<nav aria-label="Sections"><a href="#overview">Overview</a> | <a href="#importance">Global importance</a> |
<a href="#decisions">Decisions</a> | <a href="#detail">Selected decision</a> | <a href="#whatif">What-if</a></nav>
</header>
<main>
<section id="overview" aria-labelledby="overview-h"><h2 id="overview-h">Portfolio overview</h2><div id="overview-body"></div></section>
<section id="importance" aria-labelledby="imp-h"><h2 id="imp-h">Global importance (mean absolute attribution)</h2>
<div id="importance-chart"></div>
<h3 id="dep-h">Dependence</h3>
<label for="dep-feature">Feature</label> <select id="dep-feature"></select>
<div id="dependence-chart"></div></section>
<section id="decisions" aria-labelledby="dec-h"><h2 id="dec-h">Decisions</h2>
<div class="filters" role="search">
<label>Outcome <select id="f-outcome"><option value="">all</option><option value="deny">{escape(data['decision']['deny_label'])}</option><option value="approve">{escape(data['decision']['approve_label'])}</option></select></label>
<label>Reason <select id="f-reason"><option value="">any</option></select></label>
<label>Group <select id="f-group"><option value="">all</option></select></label>
<label>Search by id <input id="f-search" type="search" autocomplete="off"></label>
</div>
<p id="dec-count" role="status"></p>
<table id="dec-table"><caption class="visually-hidden">Decisions; sort by a column with its header button</caption>
<thead><tr id="dec-head"></tr></thead><tbody id="dec-body"></tbody></table>
<button type="button" id="more" hidden>Show more decisions</button>
</section>
<section id="detail" aria-labelledby="detail-title"><h2 id="detail-title">Selected decision</h2><div id="detail-body"></div></section>
<section id="whatif" aria-labelledby="wi-h"><h2 id="wi-h">What-if</h2><div id="whatif-body"></div></section>
</main>
<script type="application/json" id="explorer-data">{_json_block(data)}</script>
<script>{script}</script>
</body>
</html>
"""


def write_explorer(path, data: dict) -> Path:
    """Write the page atomically to ``path`` (nothing half-written on failure)."""
    path = Path(path)
    atomic_write(path, explorer_html(data).encode("utf-8"))
    return path
