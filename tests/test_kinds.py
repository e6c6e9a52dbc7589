"""The document-kind registry and the pack schema built from it (issue 19)."""

from __future__ import annotations

import json
import warnings
from typing import Optional

import pytest
import yaml
from pydantic import Field

from xai_reports._resources import domains_dir
from xai_reports.documents import DocumentKind, get_kind, kind_of_record, register_kind, registered_kinds
from xai_reports.documents.base import unregister_kind
from xai_reports.errors import PackError
from xai_reports.packs import load_pack
from xai_reports.packs.fields import Strict

BUILT_IN = ("letter", "audit", "case_review", "incident")


# --------------------------------------------------------------------------- registry lookups
def test_built_in_kinds_are_registered_with_their_sections():
    names = [k.name for k in registered_kinds()]
    assert set(BUILT_IN) <= set(names)
    assert get_kind("letter").section == "letter" and get_kind("letter").legacy_sections == ("finance",)
    assert get_kind("case_review").legacy_sections == ("healthcare",)
    assert get_kind("incident").legacy_sections == ("autonomous_driving",)
    assert get_kind("audit").section == "audit" and get_kind("audit").legacy_sections == ()
    for name in BUILT_IN:
        kind = get_kind(name)
        schema = kind.section_schema()
        assert schema.__name__.endswith("Section"), schema
        assert callable(kind.rerenderer()), name


def test_batch_kinds_name_their_job_and_command():
    from xai_reports.batch import BatchJob
    from xai_reports.cli import commands

    batch = {k.name: k for k in registered_kinds() if k.batch_job}
    assert set(batch) >= {"letter", "case_review"}
    for kind in batch.values():
        assert issubclass(kind.job(), BatchJob) and kind.summary_field and kind.file_prefix
    assert {k.command for k in registered_kinds() if k.command} <= set(commands())


def test_unknown_kind_lists_the_known_ones():
    with pytest.raises(PackError) as exc:
        get_kind("invoice")
    assert "invoice" in str(exc.value) and "letter" in str(exc.value) and "case_review" in str(exc.value)


def test_a_kind_cannot_take_another_kinds_section():
    with pytest.raises(ValueError, match="already"):
        register_kind(DocumentKind(name="letter", title="x"))
    with pytest.raises(ValueError, match="finance"):
        register_kind(DocumentKind(name="notice", title="x", section="notice", legacy_sections=("finance",)))
    assert "notice" not in [k.name for k in registered_kinds()]


def test_records_are_matched_to_their_kind():
    assert kind_of_record({"document": {"kind": "adverse_action_letter"}}).name == "letter"
    assert kind_of_record({"document": {"kind": "case_review"}}).name == "case_review"
    assert kind_of_record({"document": {"kind": "incident_report"}}).name == "incident"
    assert kind_of_record({"schema": "xai-reports/audit-record/1"}).name == "audit"
    assert kind_of_record({"document": {"kind": "nothing_known"}}) is None
    assert kind_of_record("not a record") is None


def test_importing_the_registry_stays_light():
    import subprocess
    import sys

    code = ("import sys, xai_reports.documents as d; d.get_kind('letter'); "
            "print(sorted(m for m in ('torch', 'weasyprint') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- kinds: in packs
def _write(tmp_path, text, name="pack.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_an_unknown_kind_in_kinds_names_the_key(tmp_path):
    p = _write(tmp_path, "extends: finance_hmda_example\nname: x\nversion: '1'\nkinds: [letter, invoice]\n")
    with pytest.raises(PackError) as exc:
        load_pack(p)
    assert exc.value.key_path == "kinds.1" and "invoice" in str(exc.value) and str(p) in str(exc.value)


def test_a_new_domain_must_list_its_kinds(tmp_path):
    raw = yaml.safe_load((domains_dir() / "finance" / "pack.yaml").read_text())
    raw.pop("kinds", None)
    raw["domain"] = "tenant_screening"
    p = _write(tmp_path, yaml.safe_dump(raw))
    with pytest.raises(PackError) as exc:
        load_pack(p)
    assert exc.value.key_path == "kinds"
    raw["kinds"] = ["letter", "audit"]
    pack = load_pack(_write(tmp_path, yaml.safe_dump(raw)))
    assert pack.spec.domain == "tenant_screening" and pack.spec.has_kind("letter")
    assert pack.spec.section("letter") is pack.finance


def test_the_domain_is_a_lowercase_name(tmp_path):
    p = _write(tmp_path, "extends: finance_hmda_example\nname: x\nversion: '1'\ndomain: Tenant Screening\n")
    with pytest.raises(PackError) as exc:
        load_pack(p)
    assert exc.value.key_path == "domain"


def test_a_section_of_a_kind_not_listed_is_refused(tmp_path):
    p = _write(tmp_path, "extends: finance_hmda_example\nname: x\nversion: '1'\nkinds: [letter]\n")
    with pytest.raises(PackError) as exc:
        load_pack(p)
    assert exc.value.key_path == "audit" and "kinds" in str(exc.value)


def test_old_and_new_section_key_together_is_an_error(tmp_path):
    p = _write(tmp_path, "extends: finance_hmda_example\nname: x\nversion: '1'\n"
                         "letter:\n  max_reasons: 3\nfinance:\n  max_reasons: 2\n")
    with pytest.raises(PackError) as exc:
        load_pack(p)
    assert exc.value.key_path == "finance" and "letter" in str(exc.value) and str(p) in str(exc.value)


# --------------------------------------------------------------------------- legacy keys
LEGACY = {"letter": "finance", "case_review": "healthcare", "incident": "autonomous_driving"}


def _legacy_form(raw: dict) -> dict:
    """A migrated pack written the old way: old section keys, no kinds:."""
    out = {LEGACY.get(k, k): v for k, v in raw.items() if k != "kinds"}
    return out


@pytest.mark.parametrize("name", ["finance", "healthcare", "autonomous_driving"])
def test_a_legacy_pack_loads_with_a_warning_and_the_same_content(tmp_path, name):
    src = domains_dir() / name / "pack.yaml"
    raw = yaml.safe_load(src.read_text())
    new_dir, old_dir = tmp_path / "new", tmp_path / "old"
    new_dir.mkdir()
    old_dir.mkdir()
    migrated = dict(raw)
    if "kinds" not in migrated:  # the shipped pack not migrated yet: migrate it here
        migrated = {next((k for k, v in LEGACY.items() if v == key), key): v for key, v in raw.items()}
        from xai_reports.packs.schema import LEGACY_KINDS

        migrated["kinds"] = list(LEGACY_KINDS[raw["domain"]])
    for key in ("template_dirs",):
        migrated.pop(key, None)
    new = _write(new_dir, yaml.safe_dump(migrated, sort_keys=False))
    old = _write(old_dir, yaml.safe_dump(_legacy_form(migrated), sort_keys=False))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        new_pack = load_pack(new)
    assert new_pack.deprecations == []
    with pytest.warns(DeprecationWarning) as caught:
        old_pack = load_pack(old)
    section = next(k for k in LEGACY if k in migrated)
    msgs = [str(w.message) for w in caught]
    assert any(f"'{LEGACY[section]}:'" in m and f"'{section}:'" in m and str(old) in m for m in msgs), msgs
    assert old_pack.spec.kinds == new_pack.spec.kinds
    assert old_pack.spec.model_dump() == new_pack.spec.model_dump()
    # the read-only aliases name the new sections
    assert getattr(old_pack, LEGACY[section]) == new_pack.spec.section(section)


def test_legacy_error_paths_name_the_key_as_written(tmp_path):
    p = _write(tmp_path, "extends: finance\nname: x\nversion: '1'\nfinance:\n  max_reasons: 6\n")
    with pytest.warns(DeprecationWarning), pytest.raises(PackError) as exc:
        load_pack(p)
    assert exc.value.key_path == "finance.max_reasons"


def test_validate_pack_prints_the_deprecation_as_one_line(tmp_path):
    import subprocess
    import sys

    raw = yaml.safe_load((domains_dir() / "finance_hmda_example" / "pack.yaml").read_text())
    raw = {("finance" if k == "letter" else k): v for k, v in raw.items() if k != "kinds"}
    raw["name"] = "legacy_lender"
    p = _write(tmp_path, yaml.safe_dump(raw))
    res = subprocess.run([sys.executable, "-m", "xai_reports", "validate-pack", str(p)], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stdout.splitlines() if "'finance:'" in ln and str(p) in ln]
    assert len(lines) == 1 and "warning:" in lines[0] and "'letter:'" in lines[0], res.stdout
    assert "DeprecationWarning" not in res.stderr


# --------------------------------------------------------------------------- ecoa_notice
def test_ecoa_notice_false_needs_no_agency(tmp_path):
    base = "extends: finance_hmda_example\nname: x\nversion: '1'\nletter:\n  institution:\n    agency: null\n"
    pack = load_pack(_write(tmp_path, base))
    assert ("letter.institution.agency" in [k for k, _ in pack.spec.completeness_gaps("letter")])
    pack = load_pack(_write(tmp_path, base + "  ecoa_notice: false\n", "p2.yaml"))
    assert pack.spec.completeness_gaps("letter") == []
    assert pack.finance.ecoa_notice is False


def test_letters_of_another_sector_without_the_ecoa_notice(tmp_path, hmda_files):
    """domain: tenant_screening, ecoa_notice: false: letters are written, without the ECOA notice or agency."""
    from xai_reports import generate_letters

    p = _write(tmp_path, "extends: finance_hmda_example\nname: tenant\nversion: '1'\ndomain: tenant_screening\n"
                         "kinds: [letter, audit]\nletter:\n  ecoa_notice: false\n  institution:\n    agency: null\n")
    texts = {}
    for name, pack in (("tenant", p), ("finance", "finance_hmda_example")):
        out = tmp_path / name
        summary = generate_letters(hmda_files["model"], hmda_files["applications"], pack, out,
                                   reference=hmda_files["reference"], formats=("html", "json"), workers=0)
        assert summary.letters > 0, summary.to_dict()
        first = sorted(out.glob("letter_*.html"))[0]
        record = json.loads(first.with_suffix(".json").read_text())
        texts[name] = (first.read_text(encoding="utf-8"), record["document"]["content"]["agency"])
    html, agency = texts["tenant"]
    assert agency is None and "Equal Credit Opportunity Act" not in html and "Questions" in html
    html, agency = texts["finance"]
    assert agency["name"] and "Equal Credit Opportunity Act" in html


# --------------------------------------------------------------------------- a third-party kind
class _InvoiceSection(Strict):
    """A tiny section schema of a kind a test registers."""

    currency: str = Field(pattern=r"^[A-Z]{3}$")
    due_days: int = Field(default=30, ge=1)
    note: Optional[str] = None


@pytest.fixture
def invoice_kind():
    kind = register_kind(DocumentKind(name="invoice", title="invoice", plural="invoices", section="invoice",
                                      schema=f"{__name__}:_InvoiceSection"))
    yield kind
    unregister_kind("invoice")


def test_a_third_party_kind_validates_its_section(tmp_path, invoice_kind):
    good = ("extends: finance_hmda_example\nname: x\nversion: '1'\nkinds: [letter, audit, invoice]\n"
            "invoice:\n  currency: EUR\n  due_days: 14\n")
    pack = load_pack(_write(tmp_path, good))
    assert pack.spec.has_kind("invoice") and pack.spec.section("invoice").due_days == 14
    bad = good.replace("due_days: 14", "due_days: 0")
    with pytest.raises(PackError) as exc:
        load_pack(_write(tmp_path, bad, "bad.yaml"))
    assert exc.value.key_path == "invoice.due_days" and "bad.yaml" in str(exc.value)
    unknown = good.replace("due_days: 14", "due_dayz: 14")
    with pytest.raises(PackError) as exc:
        load_pack(_write(tmp_path, unknown, "unknown.yaml"))
    assert exc.value.key_path == "invoice.due_dayz" and "unknown key" in str(exc.value)


def test_an_unregistered_kind_section_is_unknown_again(tmp_path, invoice_kind):
    unregister_kind("invoice")
    p = _write(tmp_path, "extends: finance_hmda_example\nname: x\nversion: '1'\ninvoice:\n  currency: EUR\n")
    with pytest.raises(PackError) as exc:
        load_pack(p)
    assert exc.value.key_path == "invoice" and "unknown key" in str(exc.value)


# --------------------------------------------------------------------------- verify, through the registry
def test_every_built_in_kind_rerenders_through_the_registry(monkeypatch):
    """verify asks each record's kind for its rerender function: a kind without one is not compared, and
    each built-in kind's function is the one its module defines."""
    from xai_reports.documents.audit import rerender_audit
    from xai_reports.documents.letter import rerender_letter
    from xai_reports.documents.incident.report import rerender_incident
    from xai_reports.documents.case_review.job import rerender_case_review

    expected = {"letter": rerender_letter, "audit": rerender_audit, "case_review": rerender_case_review,
                "incident": rerender_incident}
    for name, fn in expected.items():
        assert get_kind(name).rerenderer() is fn


def test_verify_rerenders_a_letter_through_the_registry(letter_run, monkeypatch):
    """A letter run verifies; with the letter kind's rerender swapped for one that returns other bytes,
    verify reports the difference, so the registry's function is the one used."""
    from dataclasses import replace

    from xai_reports.integrity import verify

    out = letter_run
    assert verify(out).ok
    calls = []

    def fake(record, *, pack=None, templates=None, formats=("pdf",)):
        calls.append(record["decision_id"])
        return {f: b"not the letter" for f in formats}

    import xai_reports.documents.base as base

    monkeypatch.setitem(base._KINDS, "letter", replace(get_kind("letter"), rerender=f"{__name__}:_FAKE"))
    monkeypatch.setitem(globals(), "_FAKE", fake)
    report = verify(out)
    assert calls and not report.ok
    assert any("does not match its embedded record" in f.message for f in report.failures)


def test_a_kind_without_rerender_is_not_compared(letter_run, monkeypatch):
    from dataclasses import replace

    import xai_reports.documents.base as base
    from xai_reports.integrity import verify

    monkeypatch.setitem(base._KINDS, "letter", replace(get_kind("letter"), rerender=None))
    report = verify(letter_run)
    assert report.ok and report.not_compared
    assert "no renderer for document kind 'adverse_action_letter'" in report.not_compared[0].message


@pytest.fixture(scope="module")
def letter_run(tmp_path_factory, hmda_files):
    """Letters (PDF and JSON) from the example pack for the held-out rows the demo's model denies."""
    from xai_reports import generate_letters

    out = tmp_path_factory.mktemp("kinds_letters") / "out"
    summary = generate_letters(hmda_files["model"], hmda_files["applications"], "finance_hmda_example", out,
                               reference=hmda_files["reference"], formats=("pdf", "json"), workers=0)
    assert summary.letters > 0
    return out


def test_records_of_the_demo_name_their_kind():
    record = {"document": {"kind": "adverse_action_letter"}, "schema": "xai-reports/decision-record/1"}
    assert kind_of_record(json.loads(json.dumps(record))).command == "letters"
