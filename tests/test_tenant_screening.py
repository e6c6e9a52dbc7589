"""A fourth sector made of YAML and templates only: tenant-screening adverse action (FCRA 615(a)).

End to end through the command line, on the SYNTHETIC example of
``examples/tenant_screening``: train the example model into a temporary folder,
write notices with ``letters --pack domains/tenant_screening``, read the PDFs
back, re-run the model on every 'what could change the decision' statement,
audit the labelled hold-out, and ``verify`` the outputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PACK_DIR = ROOT / "domains" / "tenant_screening"
N_APPLICATIONS = 40
MAX_NOTICES_READ = 6


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["MPLBACKEND"] = "Agg"
    return env


def _run(*args, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=timeout)


def _cli(*args, timeout=900) -> subprocess.CompletedProcess:
    return _run("-m", "xai_reports", *args, timeout=timeout)


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    return proc


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in PdfReader(path).pages))


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def raw_pack() -> dict:
    """The pack as written (plain YAML), so the assertions take their wording from the pack itself."""
    return yaml.safe_load((PACK_DIR / "pack.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("tenant_example")
    proc = _ok(_run("-m", "examples.tenant_screening.train", "--out", out, "--applications", N_APPLICATIONS,
                    timeout=300))
    return {"dir": out, "stdout": proc.stdout, "model": out / "model" / "tenant_screening_xgb.json",
            "reference": out / "data" / "synthetic_reference.csv",
            "applications": out / "data" / "synthetic_applications.csv",
            "holdout": out / "data" / "synthetic_holdout_labelled.csv"}


@pytest.fixture(scope="module")
def notices(example) -> Path:
    out = example["dir"] / "notices"
    _ok(_cli("letters", "--pack", "domains/tenant_screening", "--model", example["model"],
             "--data", example["applications"], "--reference", example["reference"], "--out", out, "--quiet"))
    return out


@pytest.fixture(scope="module")
def audit_pdf(example) -> Path:
    out = example["dir"] / "audit" / "tenant_screening_audit.pdf"
    out.parent.mkdir()
    _ok(_cli("audit", "--pack", "tenant_screening", "--model", example["model"], "--data", example["holdout"],
             "--target", "screening_denied", "--reference", example["reference"], "--out", out, "--quiet"))
    return out


# -- the pack: YAML and templates, in the new format -----------------------------------------------

def test_pack_folder_holds_no_python():
    files = [p for p in PACK_DIR.rglob("*") if p.is_file()]
    assert files, PACK_DIR
    assert (PACK_DIR / "pack.yaml") in files
    other = [str(p.relative_to(PACK_DIR)) for p in files if p.suffix not in (".yaml", ".yml", ".j2", ".md")]
    assert not other, f"a sector pack is YAML, templates and notes only; found {other}"
    assert not [p for p in PACK_DIR.rglob("__pycache__")]


def test_pack_loads_as_a_new_sector():
    from xai_reports.packs import load_pack

    pack = load_pack(PACK_DIR)
    spec = pack.spec
    assert spec.domain == "tenant_screening"
    assert list(spec.kinds) == ["letter", "audit"]
    letter = spec.section("letter")
    assert letter is not None and letter.ecoa_notice is False
    assert letter.institution.agency is None          # no ECOA notice, so no ECOA agency is needed
    assert letter.consumer_report.used and letter.credit_score.used
    assert spec.audit is not None and "Fair Housing Act" in spec.audit.fairness.legal_basis
    assert load_pack("tenant_screening").sha256 == pack.sha256      # shipped: found by name too


# -- the example: SYNTHETIC, seeded, fast ------------------------------------------------------------

def test_example_data_are_synthetic_and_seeded(example, tmp_path, raw_pack):
    assert "SYNTHETIC" in example["stdout"]
    for key in ("reference", "applications", "holdout"):
        path = example[key]
        assert path.name.startswith("synthetic_")
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert set(df["data_origin"]) == {"SYNTHETIC"}
        assert not [c for c in df.columns if re.search(r"crim|arrest|convict|offen", c, re.I)]
        for col in ("familial_status", "sex", "age_band"):      # kept for the audit, never a model input
            assert col in df.columns
    apps = pd.read_csv(example["applications"], dtype=str, keep_default_na=False)
    assert all("SYNTHETIC" in n for n in apps["applicant_name"])
    # another run writes the same model, byte for byte
    again = tmp_path / "again"
    _ok(_run("-m", "examples.tenant_screening.train", "--out", again, "--applications", N_APPLICATIONS, timeout=300))
    digest = lambda p: hashlib.sha256(Path(p).read_bytes()).hexdigest()   # noqa: E731
    assert digest(again / "model" / "tenant_screening_xgb.json") == digest(example["model"])
    assert digest(again / "data" / "synthetic_applications.csv") == digest(example["applications"])
    # the model uses the pack's features and none of its protected attributes
    booster_features = json.loads(example["model"].read_text())["learner"]["feature_names"]
    protected = [k for k, f in raw_pack["features"].items() if f.get("protected")]
    assert booster_features and set(booster_features) <= set(raw_pack["features"])
    assert not set(booster_features) & set(protected)


# -- the notices ---------------------------------------------------------------------------------------

def _denied_notices(notices: Path) -> list[Path]:
    pdfs = sorted(notices.glob("letter_*.pdf"))
    assert len(pdfs) >= 3, f"expected several denied applicants, got {len(pdfs)}"
    return pdfs[:MAX_NOTICES_READ]


def _reasons_part(text: str) -> str:
    start = text.index("listed in order of importance:") + len("listed in order of importance:")
    ends = [text.find(h, start) for h in ("What could change the decision", "Information from a consumer reporting agency")]
    return text[start:min(e for e in ends if e >= 0)]


def test_notices_carry_fcra_615a_content(notices, example, raw_pack):
    summary = json.loads((notices / "summary.json").read_text())
    assert summary["letters_written"] >= 3 and not summary["row_errors"]
    apps = pd.read_csv(example["applications"], dtype=str, keep_default_na=False).set_index("application_id")
    letter = raw_pack["letter"]
    cra = letter["consumer_report"]["agency"]
    inst = letter["institution"]
    reason_texts = {k: _norm(r["text"]) for k, r in raw_pack["reasons"].items()}
    for pdf in _denied_notices(notices):
        text = _pdf_text(pdf)
        app_id = pdf.stem.removeprefix("letter_")
        row = apps.loc[app_id]
        # the adverse action taken, by whom
        assert _norm(letter["decision"]["action_taken"]) in text
        assert inst["name"] in text and inst["phone"] in text
        # FCRA 615(a)(3): the consumer reporting agency's name, address and toll-free number; it did not decide
        assert cra["name"] in text
        assert ", ".join(cra["address"]) in text
        assert f"Toll-free telephone {cra['phone']}" in text
        assert "did not make this decision and is unable to provide you the specific reasons" in text
        # FCRA 615(a)(4): free copy within 60 days; dispute accuracy or completeness with the agency
        assert "free copy of your consumer report" in text and "within 60 days" in text
        assert "to dispute with the consumer reporting agency the accuracy or completeness" in text
        # FCRA 615(a)(2), 609(f)(1): the score used, its range, date, key factors, provider
        assert f"Your credit score {row['credit_score']}" in text
        assert "a low of 300 to a high of 850" in text
        assert row["credit_score_date"] in text
        assert "Key factors that adversely affected your credit score" in text
        for factor in [f.strip() for f in row["credit_score_factors"].split(";") if f.strip()][:4]:
            assert factor in text
        # the specific reasons: 1 to 4 of the pack's statements, and nothing else listed
        part = _reasons_part(text)
        found = [k for k, t in reason_texts.items() if t in part]
        assert 1 <= len(found) <= 4, (app_id, part)
        record = json.loads(pdf.with_suffix(".json").read_text())
        printed = [r["text"] for r in record["document"]["content"]["reasons"]]
        assert sorted(map(_norm, printed)) == sorted(reason_texts[k] for k in found)
        assert not any(p in {"familial_status", "sex", "age_band"} for r in record["reasons"]["chosen"]
                       for p in [f["name"] for f in r["features"]])
        # no ECOA notice: a rental application is not a credit application
        for ecoa in ("Equal Credit Opportunity Act", "ECOA", "Federal agency that administers",
                     "Federal Equal Credit"):
            assert ecoa not in text, (app_id, ecoa)
        assert "SYNTHETIC" in text


def _statement_values(text: str, raw_pack) -> list[dict]:
    """The alternatives of a notice's 'what could change' statement, each ``{feature: printed value}``."""
    m = re.search(r"our decision could have been different if (.*?), with everything else unchanged\.", text)
    if m is None:
        return []
    patterns = {f: re.compile(re.escape(_norm(spec["action_text"])).replace(re.escape("{value}"), r"(\S+?)"))
                for f, spec in raw_pack["features"].items() if spec.get("actionable")}
    alternatives = []
    for part in re.split(r", or if ", m.group(1)):
        values = {f: p.search(part).group(1) for f, p in patterns.items() if p.search(part)}
        assert values, f"a statement names no actionable feature of the pack: {part!r}"
        alternatives.append(values)
    return alternatives


def _number(printed: str, spec: dict) -> float:
    s = printed.replace("$", "").replace(",", "")
    return float(s.rstrip("%")) / 100.0 if spec.get("format") == "percent" else float(s)


def _model_frame(rows: pd.DataFrame, booster, raw_pack) -> pd.DataFrame:
    """The rows as the model takes them: numbers, and categories in the pack's declared order."""
    X = pd.DataFrame(index=rows.index)
    for f in booster.feature_names:
        spec = raw_pack["features"][f]
        if spec["type"] in ("categorical", "binary"):
            X[f] = pd.Categorical(rows[f].astype(str), categories=[str(c) for c in spec["categories"]])
        else:
            X[f] = pd.to_numeric(rows[f]).astype(float)
    return X


def test_what_could_change_holds_when_the_model_is_rerun(notices, example, raw_pack):
    import xgboost as xgb

    booster = xgb.Booster(model_file=str(example["model"]))
    threshold = raw_pack["letter"]["decision"]["threshold"]
    apps = pd.read_csv(example["applications"], dtype=str, keep_default_na=False).set_index("application_id")

    def p_deny(rows: pd.DataFrame) -> np.ndarray:
        return booster.predict(xgb.DMatrix(_model_frame(rows, booster, raw_pack), enable_categorical=True))

    checked = 0
    for pdf in _denied_notices(notices):
        app_id = pdf.stem.removeprefix("letter_")
        base = apps.loc[[app_id]]
        assert p_deny(base)[0] >= threshold, f"{app_id} got a notice but the model approves it"
        for alt in _statement_values(_pdf_text(pdf), raw_pack):
            # each stated value, and the feature's whole stated range ('or less' down to its bound)
            grids = {}
            for f, printed in alt.items():
                spec = raw_pack["features"][f]
                v = _number(printed, spec)
                assert spec["direction"] == "decrease_only" and _norm(spec["action_text"]).find("or less") >= 0
                lo = spec["bounds"][0]
                assert lo <= v <= _number_of(base.iloc[0][f]) + 1e-9, (app_id, f, v)
                grids[f] = np.unique(np.r_[np.linspace(lo, v, 9), v])
            mesh = np.meshgrid(*grids.values(), indexing="ij")
            changed = pd.concat([base] * mesh[0].size, ignore_index=True)
            for f, values in zip(grids, mesh):
                changed[f] = values.ravel()
            p = p_deny(changed)
            assert (p < threshold).all(), (app_id, alt, float(p.max()))
            checked += 1
    assert checked >= 1, "no notice stated what could change the decision"


def _number_of(value) -> float:
    return float(str(value).replace(",", ""))


# -- the audit and verify -------------------------------------------------------------------------------

def test_audit_reports_model_facts_and_fair_housing(audit_pdf, raw_pack):
    text = _pdf_text(audit_pdf)
    model = raw_pack["audit"]["model"]
    for key in ("id", "name", "version", "owner", "validator"):
        assert _norm(model[key]) in text, key
    assert _norm(raw_pack["audit"]["title"]) in text
    assert "SYNTHETIC" in text
    # the fair-housing screening statistics, with the pack's legal basis and the protected attributes
    assert "Fair Housing Act (42 U.S.C. 3604(a), (b), (f))" in text
    assert "Inclusive Communities Project" in text
    assert "not a finding of discrimination or of compliance" in text
    for label in ("Familial status (children under 18 in the household)", "Sex", "Age band"):
        assert f"by {label}" in text, label
    assert "Adverse impact ratio" in text or "adverse impact ratio" in text
    # no lending words or banking guidance in a landlord's audit
    for phrase in ("Fair-lending", "fair-lending", "credit factor", "Regulation B", "SR 26-2", "SR 11-7"):
        assert phrase not in text, phrase


def test_verify_passes_on_the_outputs(notices, audit_pdf):
    out = _ok(_cli("verify", notices))
    assert "verified" in out.stdout
    out = _ok(_cli("verify", audit_pdf))
    assert "verified" in out.stdout
