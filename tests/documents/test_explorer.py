"""The interactive explorer: one offline HTML file, driven in Debian's headless chromium.

The key check: the what-if panel's prediction, computed by the page's own script from the
exported trees, equals the Python model's to 1e-6 on many random points. The browser tests
are skipped, with the reason, when chromium is not installed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from _browser import CHROMIUM, SKIP_REASON, run_page

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)
TENANT_PACK = "domains/tenant_screening"


@pytest.fixture(scope="module")
def tenant(tmp_path_factory):
    """The SYNTHETIC tenant-screening example (a data set unlike the HMDA demo's: categorical inputs,
    name and address columns, three protected groups)."""
    from examples.tenant_screening.train import train

    d = tmp_path_factory.mktemp("tenant")
    files = train(d)["files"]
    return files


@pytest.fixture(scope="module")
def tenant_data(tenant):
    from xai_reports.documents.explorer import explorer_data

    return explorer_data(tenant["model"], tenant["applications"], TENANT_PACK, reference=tenant["reference"])


@pytest.fixture(scope="module")
def tenant_html(tenant_data):
    from xai_reports.documents.explorer import explorer_html

    return explorer_html(tenant_data)


def _typed(files, pack):
    """The applications as the model reads them, the adapter and the loaded pack (the independent truth)."""
    from xai_reports.adapters import load_model
    from xai_reports.documents.letter.job import declared_model_features
    from xai_reports.io.tabular import check_frame, read_table
    from xai_reports.packs import load_pack

    pack = load_pack(pack)
    adapter = load_model(files["model"])
    feats = declared_model_features(adapter, pack)
    X = check_frame(read_table(files["applications"]), pack, feats, source="apps").X
    return adapter, pack, feats, X


# ----------------------------------------------------------------------------- no browser needed
def test_the_page_is_self_contained_with_a_csp_forbidding_the_network(tenant_html):
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', tenant_html)
    assert csp, "no CSP meta tag"
    policy = csp.group(1)
    assert policy.startswith("default-src 'none';")
    assert "connect-src 'none'" in policy and "'unsafe-inline'" not in policy and "http" not in policy
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+';", policy)
    # no external resource: no src/href to another place, no CSS url(), no @import; the only URL in the
    # file is the SVG namespace name (an identifier, never fetched)
    assert not re.search(r'\s(?:src|href)="(?!#)', tenant_html)
    assert "url(" not in tenant_html and "@import" not in tenant_html
    urls = set(re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[a-z]{2,}[^\s\"'<>]*", tenant_html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls


def test_identifiers_stay_out_of_the_page_unless_allowed(tenant, tenant_data, tenant_html):
    import pandas as pd

    from xai_reports.documents.explorer import explorer_data, explorer_html

    apps = pd.read_csv(tenant["applications"])
    assert tenant_data["privacy"]["hidden_columns"] == ["applicant_name", "applicant_address"]
    for v in list(apps["applicant_name"]) + list(apps["applicant_address"]):
        assert str(v) not in tenant_html
    assert "Placeholder Road" not in tenant_html
    deid = explorer_html(explorer_data(tenant["model"], tenant["applications"], TENANT_PACK,
                                       reference=tenant["reference"], deidentify=True, counterfactuals=False))
    assert not any(str(i) in deid for i in apps["application_id"])
    shown = explorer_data(tenant["model"], tenant["applications"], TENANT_PACK, reference=tenant["reference"],
                          show_identifiers=True, counterfactuals=False)
    assert shown["privacy"]["hidden_columns"] == []
    assert shown["rows"]["identity"]["applicant_name"] == [str(v) for v in apps["applicant_name"]]
    assert tenant_data["rows"]["identity"] == {}


def test_reasons_are_the_letters_and_the_export_reproduces_the_model(tenant, tenant_data):
    """Each denied row's reasons are those select_reasons gives its letter; the exported trees,
    evaluated in Python as the page does, give the model's probabilities."""
    from xai_reports.documents.explorer.model_js import evaluate_export
    from xai_reports.attribution._trees import parse_ensemble
    from xai_reports.documents.letter.reasons import deny_probability

    adapter, pack, feats, X = _typed(tenant, TENANT_PACK)
    rows = tenant_data["rows"]
    p = deny_probability(adapter, X, pack)
    assert np.allclose(rows["p"], p, atol=0, rtol=0)
    m = tenant_data["whatif"]["model"]
    assert m is not None and tenant_data["whatif"]["note"] is None
    assert np.max(np.abs(evaluate_export(m, parse_ensemble(adapter).encode(X, columns=feats)) - p)) < 1e-6
    stated = [[tenant_data["reasons"][k]["key"] for k in ks] for ks in rows["reasons"]]
    assert any(stated) and all(not s for s, d in zip(stated, rows["deny"]) if not d)
    # additivity of what the waterfall draws (rounded to 6 significant digits)
    for i in range(len(rows["id"])):
        assert abs(rows["base"][i] + sum(rows["phi"][i]) - rows["margin"][i]) < 1e-4
    statements = [c["text"] for c in rows["cf"] if c and c["text"]]
    assert statements, "no counterfactual statement in the page"
    # every precomputed point is the model's approval, re-checked here with the model itself
    adapter_X = X.copy()
    thr = tenant_data["decision"]["threshold"]
    for i, c in enumerate(rows["cf"]):
        for pt in (c or {}).get("points", []):
            x = adapter_X.iloc[[i]].copy()
            for f, v in pt["changes"].items():
                x[f] = x[f].astype(object)
                x.iloc[0, x.columns.get_loc(f)] = v
            x = x.astype(X.dtypes.to_dict())
            p_cf = float(deny_probability(adapter, x, pack)[0])
            assert p_cf < thr and abs(p_cf - pt["p"]) < 1e-6


def test_a_model_that_cannot_run_in_the_page_offers_precomputed_points_and_says_so(tenant):
    """A logistic regression (no trees): the panel says it offers the precomputed counterfactuals only."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from xai_reports.documents.explorer import explorer_data, explorer_html

    cols = ["monthly_income", "rent_to_income", "months_at_address", "prior_evictions", "credit_score"]
    ref = pd.read_csv(tenant["holdout_labelled"])
    lr = LogisticRegression(max_iter=5000).fit(ref[cols].astype(float), ref["screening_denied"])
    d = explorer_data(lr, tenant["applications"], TENANT_PACK, reference=tenant["reference"])
    assert d["whatif"]["model"] is None and "precomputed" in d["whatif"]["note"]
    html = explorer_html(d)
    assert "precomputed counterfactuals only" in html
    assert any(c and c["points"] for c in d["rows"]["cf"]), "no precomputed point to offer"


def test_the_command_writes_one_file_and_bad_input_writes_nothing(tenant, tmp_path, capsys):
    from xai_reports.cli import main

    out = tmp_path / "explorer.html"
    args = ["explore", "--pack", TENANT_PACK, "--model", tenant["model"], "--data", tenant["applications"],
            "--reference", tenant["reference"], "--out"]
    assert main(args + [str(out)]) == 0
    assert "runs the model in the page" in capsys.readouterr().out
    assert out.read_text().startswith("<!DOCTYPE html>")
    bad = tmp_path / "bad.csv"
    bad.write_text("nothing,here\n1,2\n")
    out2 = tmp_path / "none.html"
    args[6] = str(bad)
    assert main(args + [str(out2)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.csv" in err, err
    assert not out2.exists()
    # a pack without letters: one line naming the pack file and key, nothing written
    assert main(["explore", "--pack", "healthcare", "--model", tenant["model"], "--data", tenant["applications"],
                 "--out", str(out2)]) == 2
    err = capsys.readouterr().err
    assert "healthcare/pack.yaml: kinds:" in err and "no letter kind" in err and not out2.exists()


def test_letters_write_an_explorer_on_request(tenant, tmp_path, capsys):
    out = tmp_path / "letters"
    page = tmp_path / "explorer.html"
    from xai_reports.cli import main

    code = main(["letters", "--pack", TENANT_PACK, "--model", tenant["model"], "--data", tenant["applications"],
                 "--reference", tenant["reference"], "--out", str(out), "--format", "json", "--workers", "0",
                 "--quiet", "--explorer", str(page), "--deidentify"])
    assert code == 0
    assert f"written to {page}" in capsys.readouterr().out
    html = page.read_text()
    records = sorted(out.glob("letter_*.json"))
    assert records
    rec = json.loads(records[0].read_text())
    # the explorer names the letter's reasons for the same decision (the page lists rows by number)
    assert rec["decision_id"] not in html
    for r in rec["reasons"]["chosen"]:
        assert json.dumps(r["text"], ensure_ascii=False) in html


def test_same_inputs_same_bytes(tenant_data):
    from xai_reports.documents.explorer import explorer_html

    assert explorer_html(json.loads(json.dumps(tenant_data))) == explorer_html(tenant_data)


# ----------------------------------------------------------------------------- in the browser
def _random_points(data, X, rng, n):
    """``n`` random what-if settings: a random decision, random values of its actionable features
    within the bounds and direction the panel allows."""
    feats = data["features"]
    points = []
    for _ in range(n):
        i = int(rng.integers(len(data["rows"]["id"])))
        vals = {}
        for j, f in enumerate(feats):
            if not f["actionable"]:
                continue
            if "categories" in f:
                vals[j] = f["categories"][int(rng.integers(len(f["categories"])))]
                continue
            v0 = data["rows"]["x"][i][j]
            lo, hi = f["min"], f["max"]
            if v0 is not None and f["direction"] == "increase_only":
                lo = max(lo, v0)
            if v0 is not None and f["direction"] == "decrease_only":
                hi = min(hi, v0)
            v = rng.uniform(lo, hi)
            vals[j] = float(round(v)) if f["step"] == 1 else float(f"{v:.4f}")
        points.append({"row": i, "set": vals})
    return points


def _truth(points, data, adapter, pack, X):
    from xai_reports.documents.letter.reasons import deny_probability

    feats = [f["name"] for f in data["features"]]
    Xm = X.iloc[[pt["row"] for pt in points]].copy().reset_index(drop=True)
    for k, pt in enumerate(points):
        for j, v in pt["set"].items():
            Xm.loc[k, feats[int(j)]] = v
    return deny_probability(adapter, Xm, pack)


WHATIF_DRIVER = """
var pts = %s, out = [];
pts.forEach(function (pt) {
  xaiExplorer.select(pt.row, false);
  Object.keys(pt.set).forEach(function (j) {
    var c = document.getElementById("wi-" + j);
    if (c.disabled) throw new Error("control " + j + " is disabled");
    c.value = String(pt.set[j]);
    c.dispatchEvent(new Event("input", {bubbles: true}));
  });
  out.push(+document.getElementById("wi-p").getAttribute("data-p"));
});
return out;
"""


def _check_whatif(data, html, files, pack, tmp_path, n=300, seed=0):
    adapter, pack, _, X = _typed(files, pack)
    pts = _random_points(data, X, np.random.default_rng(seed), n)
    assert any(pt["set"] for pt in pts), "no actionable feature to set"
    got, _ = run_page(html, WHATIF_DRIVER % json.dumps(pts), tmp_path)
    want = _truth(pts, data, adapter, pack, X)
    err = np.max(np.abs(np.asarray(got) - want))
    assert err < 1e-6, f"page and model differ by {err:.2e}"
    # the decision changes on some points and not on others: the controls really moved the model
    thr = data["decision"]["threshold"]
    base = np.asarray(data["rows"]["p"])[[pt["row"] for pt in pts]]
    assert np.any((want >= thr) != (base >= thr))


@needs_chromium
def test_whatif_in_the_browser_equals_the_python_model_tenant(tenant, tenant_data, tenant_html, tmp_path):
    _check_whatif(tenant_data, tenant_html, tenant, TENANT_PACK, tmp_path)


@needs_chromium
def test_whatif_in_the_browser_equals_the_python_model_hmda(hmda_files, tmp_path):
    from xai_reports.documents.explorer import explorer_data, explorer_html

    files = {"model": hmda_files["model"], "applications": hmda_files["applications"]}
    d = explorer_data(hmda_files["model"], hmda_files["applications"], "finance_hmda_example",
                      reference=hmda_files["reference"], counterfactuals=False)
    _check_whatif(d, explorer_html(d), files, "finance_hmda_example", tmp_path, n=200, seed=1)


@needs_chromium
def test_the_page_model_on_every_feature_of_every_row(tenant, tenant_data, tenant_html, tmp_path):
    """All features varied (not only the actionable ones): the page's tree evaluator on every row
    of the data and on as many random rows drawn from the feature ranges."""
    adapter, pack, feats, X = _typed(tenant, TENANT_PACK)
    rng = np.random.default_rng(3)
    Xr = X.sample(n=len(X), replace=True, random_state=3).reset_index(drop=True)
    for j, f in enumerate(tenant_data["features"]):
        if "categories" in f:
            Xr[f["name"]] = [f["categories"][k] for k in rng.integers(len(f["categories"]), size=len(Xr))]
        else:
            Xr[f["name"]] = np.round(rng.uniform(f["min"], f["max"], size=len(Xr)), 3)
    Xr = Xr.astype(X.dtypes.to_dict())
    rows = [[None if (isinstance(v, float) and np.isnan(v)) else v for v in r]
            for r in X.astype(object).values.tolist() + Xr.astype(object).values.tolist()]
    driver = ("var rows=%s;return rows.map(function(r){return xaiExplorer.predict(r.map(function(v,j){"
              "return xaiExplorer.encode(j,v);}));});" % json.dumps(rows))
    got, _ = run_page(tenant_html, driver, tmp_path)
    from xai_reports.documents.letter.reasons import deny_probability
    import pandas as pd

    want = deny_probability(adapter, pd.concat([X, Xr], ignore_index=True), pack)
    assert np.max(np.abs(np.asarray(got) - want)) < 1e-6


TABLE_DRIVER = """
function rows() { return document.querySelectorAll("#dec-body tr").length; }
function set(id, v, ev) { var c = document.getElementById(id); c.value = v; c.dispatchEvent(new Event(ev || "change")); }
var r = {all: rows(), count: document.getElementById("dec-count").textContent};
set("f-outcome", "deny"); r.denied = rows();
set("f-outcome", "approve"); r.approved = rows();
set("f-outcome", "");
set("f-reason", "0"); r.reason0 = rows(); set("f-reason", "");
var g = document.getElementById("f-group"); r.groupValue = g.options[1].value; set("f-group", g.options[1].value); r.group1 = rows(); set("f-group", "");
set("f-search", %s, "input"); r.search = Array.prototype.map.call(document.querySelectorAll("#dec-body tr td:first-child button"), function (b) { return b.textContent; });
set("f-search", "", "input");
var th = document.querySelector('#dec-table th[data-key="id"]'); th.querySelector("button").click();
r.sortAttr = th.getAttribute("aria-sort");
r.firstIds = Array.prototype.slice.call(document.querySelectorAll("#dec-body tr td:first-child button"), 0, 5).map(function (b) { return b.textContent; });
var b = document.querySelector("#dec-body tr td:first-child button"); b.focus(); b.click();
r.focused = document.activeElement.id; r.detail = document.getElementById("detail-h").textContent;
r.waterfallBars = document.querySelectorAll("#detail-body svg rect").length;
r.reasonItems = document.querySelectorAll("#detail-body ol li").length;
r.hoverTitles = document.querySelectorAll("#importance-chart svg rect title").length;
var wc = document.querySelector("#whatif-body input:not([disabled])");
if (wc) { wc.value = String(+wc.getAttribute("max") + 1000); wc.dispatchEvent(new Event("change")); r.clamped = +wc.value === +wc.getAttribute("max"); }
r.controls = Array.prototype.filter.call(document.querySelectorAll("#whatif-body input, #whatif-body select"), function (c) { return !c.disabled && c.tabIndex >= 0; }).length;
return r;
"""


@needs_chromium
def test_filter_search_sort_and_keyboard_change_the_table(tenant_data, tenant_html, tmp_path):
    rows = tenant_data["rows"]
    n, nd = len(rows["id"]), sum(rows["deny"])
    probe = rows["id"][7]
    r, dom = run_page(tenant_html, TABLE_DRIVER % json.dumps(probe[-3:]), tmp_path)
    assert r["all"] == min(n, 100) and r["count"].startswith(f"{n} of {n}")
    assert r["denied"] == min(nd, 100) and r["approved"] == min(n - nd, 100)
    assert r["reason0"] == sum(1 for ks in rows["reasons"] if 0 in ks) > 0
    gi, gv = r["groupValue"].split("\u0001")
    assert r["group1"] == min(100, sum(1 for g in rows["group"] if g[int(gi)] == gv))
    assert probe in r["search"] and all(probe[-3:] in s for s in r["search"])
    assert r["sortAttr"] == "ascending" and r["firstIds"] == sorted(rows["id"])[:5]
    assert r["focused"] == "detail-h" and r["detail"] == f"Decision {sorted(rows['id'])[0]}"
    assert r["waterfallBars"] == len(tenant_data["features"]) and r["hoverTitles"] == len(tenant_data["features"])
    assert r["controls"] == sum(f["actionable"] for f in tenant_data["features"])
    assert r["clamped"] is True   # a value typed past the bound is brought back to it


def test_the_explorer_passes_an_axe_core_wcag22_aa_scan(tenant_html, tmp_path):
    """The page as it opens (overview, table, first decision and its what-if panel drawn) has no
    axe-core WCAG 2.2 AA violation and requests nothing external (the project's tests/a11y check)."""
    import os
    import shutil
    from pathlib import Path

    a11y = Path(__file__).resolve().parents[1] / "a11y"
    node = shutil.which("node")
    if CHROMIUM is None or node is None or not (a11y / "node_modules" / "axe-core").is_dir() \
            or not (a11y / "node_modules" / "playwright-core").is_dir():
        pytest.skip("axe-core WCAG scan skipped: needs chromium, node and `npm install --prefix tests/a11y`")
    page = tmp_path / "explorer.html"
    page.write_text(tenant_html, encoding="utf-8")
    out = tmp_path / "axe.json"
    res = subprocess.run([node, str(a11y / "axe_check.js"), str(page), "--json", str(out)], capture_output=True,
                         text=True, env={**os.environ, "CHROMIUM_PATH": CHROMIUM}, timeout=240)
    assert res.returncode == 0, res.stdout + res.stderr
    (r,) = json.loads(out.read_text())
    assert r["violations"] == [] and r["external"] == [] and r["passes"] >= 10, r


def test_the_explorer_is_a_registered_kind_with_its_command():
    from xai_reports.cli import commands
    from xai_reports.documents import get_kind

    kind = get_kind("explorer")
    assert kind.command == "explore" and commands()["explore"] == "explore"
    assert kind.builder().__name__ == "explorer_data"
