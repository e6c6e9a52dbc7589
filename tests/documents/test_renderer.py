"""The renderer interface: WeasyPrint by default, a pure-Python mock for template tests.

The mock renders real records (a letter, a case-review sheet, an audit report) through the real template
path in a process where WeasyPrint cannot be imported; its PDFs carry the text and the JSON record, and
can never pass for real documents.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from datetime import datetime, timezone

import pytest
from pypdf import PdfReader

from _doc_helpers import REPO
from xai_reports.errors import RenderError
from xai_reports.render import (MockRenderer, Renderer, WeasyPrintRenderer, font_subsetter, get_renderer, html_to_pdf,
                                is_mock_pdf, renderer_software, use_renderer)
from xai_reports.render.mock import MOCK_BANNER, MOCK_FONT_SUBSETTER

WHEN = datetime(2026, 3, 14, tzinfo=timezone.utc)
PAGE = ('<!DOCTYPE html><html lang="{lang}"><head><title>Aviso</title><style>p {{ color: red }}</style></head>'
        '<body><h1>Aviso de acción</h1><p>Estimado <b>Sr. Núñez</b> (R-1) \\ 100%</p>'
        '<ul><li>uno</li><li>dos</li></ul><script type="application/json">{{"hidden": 1}}</script></body></html>')


def _text(pdf: bytes) -> str:
    return " ".join(" ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(pdf)).pages)


def test_default_is_weasyprint_and_the_choice_is_scoped():
    assert isinstance(get_renderer(), WeasyPrintRenderer) and get_renderer().name == "weasyprint"
    outer, inner = MockRenderer(), MockRenderer()
    with use_renderer(outer):
        assert get_renderer() is outer
        with use_renderer(inner):
            assert get_renderer() is inner
        assert get_renderer() is outer
        seen = []
        t = threading.Thread(target=lambda: seen.append(get_renderer()))
        t.start()
        t.join()
        assert isinstance(seen[0], WeasyPrintRenderer)  # another thread keeps the default
    with pytest.raises(ZeroDivisionError):
        with use_renderer(outer):
            1 / 0
    assert isinstance(get_renderer(), WeasyPrintRenderer)  # restored after an exception too
    with pytest.raises(TypeError, match="Renderer instance"):
        with use_renderer("mock"):
            pass


def test_software_fields_only_name_a_renderer_that_is_not_the_default():
    real = renderer_software()
    assert set(real) == {"font_subsetter"} and real["font_subsetter"] == font_subsetter()
    assert real["font_subsetter"].split()[0] in ("harfbuzz-subset", "fonttools")
    with use_renderer(MockRenderer()):
        assert renderer_software() == {"font_subsetter": MOCK_FONT_SUBSETTER, "renderer": "mock"}
        assert font_subsetter() == MOCK_FONT_SUBSETTER


def test_a_renderer_must_implement_the_interface():
    class Half(Renderer):
        name = "half"

        def font_subsetter(self):
            return "x"

    with pytest.raises(TypeError):
        Half()


def test_mock_pdf_is_valid_deterministic_and_inspectable():
    import pikepdf

    from xai_reports.integrity import embedded_record

    mock = MockRenderer()
    record = b'{"decision_id": "R-1"}\n'
    with use_renderer(mock):
        pdf = html_to_pdf(PAGE.format(lang="es"), base_dir=".", created=WHEN,
                          attachments=[("record.json", record, "Decision record (JSON)")], font_subsetter="fonttools 4")
        again = html_to_pdf(PAGE.format(lang="es"), base_dir=".", created=WHEN,
                            attachments=[("record.json", record, "Decision record (JSON)")])
    assert pdf == again and is_mock_pdf(pdf)
    assert embedded_record(pdf) == (record, "Data")
    text = _text(pdf)
    assert text == (MOCK_BANNER + " Aviso de acción Estimado Sr. Núñez (R-1) \\ 100% uno dos")
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        assert list(doc.attachments) == ["record.json"] and str(doc.Root.Lang) == "es"
        assert str(doc.docinfo.Title) == "Aviso" and "mock" in str(doc.docinfo.Producer)
        assert doc.check_pdf_syntax() == []  # qpdf finds nothing wrong with the file
    [call] = mock.calls[:1]
    assert call.font_subsetter == "fonttools 4" and call.attachments[0][0] == "record.json" and "<ul>" in call.html
    # a long document wraps and spans pages
    long = PAGE.format(lang="en").replace("<li>uno</li>", "<li>" + "palabra " * 2000 + "</li>")
    with use_renderer(MockRenderer()):
        assert len(PdfReader(io.BytesIO(html_to_pdf(long, base_dir=".", created=WHEN))).pages) > 1


@pytest.mark.parametrize("html, message", [
    ('<html lang="en"><head><title>T</title><link rel="attachment" href="data:text/plain,x"></head></html>',
     "attach files through markup"),
    ('<html lang="en"><head><title>T</title></head><body><img src="file:///etc/hostname" alt="x"></body></html>',
     "refused, nothing read"),
    ('<html><head><title>T</title></head><body><p>x</p></body></html>', "no lang attribute"),
    ('<html lang="en"><head><title>T</title></head><body><img src="data:,"></body></html>', "without alt text"),
])
def test_mock_refuses_what_the_real_renderer_refuses(html, message):
    for renderer in (MockRenderer(), WeasyPrintRenderer()):
        with use_renderer(renderer), pytest.raises(RenderError, match=message):
            html_to_pdf(html, base_dir=".", created=WHEN)


def test_a_mock_made_record_is_not_rerendered_as_real():
    with pytest.raises(RenderError, match="mock renderer"):
        WeasyPrintRenderer().html_to_pdf('<html lang="en"><title>T</title><p>x</p></html>', base_dir=".",
                                         created=WHEN, font_subsetter=MOCK_FONT_SUBSETTER)


# ------------------------------------------------------------------ real records, no WeasyPrint
@pytest.fixture(scope="module")
def records(hmda_case, tmp_path_factory):
    """A letter, a case-review and an audit record, made by the real pipelines (JSON only: no PDF rendered)."""
    from xai_reports import audit, generate_letters
    from examples.healthcare.demo import DEMO_TIME, wdbc_demo_cases
    from xai_reports.documents.case_review import generate_case_reviews
    from examples.healthcare.training import train_wdbc_model

    root = tmp_path_factory.mktemp("records")
    generate_letters(hmda_case["model"], hmda_case["apps"], "finance_hmda_example", root / "letters",
                     reference=hmda_case["reference"], formats=("json",))
    letter = json.loads(sorted((root / "letters").glob("letter_*.json"))[0].read_text())
    model = train_wdbc_model(root / "wdbc", n_estimators=20)
    wdbc_demo_cases(2).to_csv(root / "cases.csv", index=False)
    generate_case_reviews(model["model"], root / "cases.csv", "healthcare", root / "cases", formats=("json",),
                          timestamp=DEMO_TIME, workers=0)
    case = json.loads(sorted((root / "cases").glob("case_*.json"))[0].read_text())
    import pandas as pd

    labelled = pd.read_csv(hmda_case["reference"])
    labelled["deny"] = (labelled.index % 3 == 0).astype(int)
    labelled.to_csv(root / "labelled.csv", index=False)
    report = audit(hmda_case["model"], root / "labelled.csv", "finance_hmda_example", target="deny",
                   protected=["afam"], reference=hmda_case["reference"], report_date="2026-11-20")
    paths = {}
    for kind, rec in (("adverse_action_letter", letter), ("case_review", case), ("audit_report", report.record())):
        paths[kind] = root / f"{kind}.json"
        paths[kind].write_text(json.dumps(rec))
    return paths


RERENDER_WITHOUT_WEASYPRINT = r"""
import json, sys
sys.modules["weasyprint"] = None          # any "import weasyprint" now raises ImportError
from xai_reports.documents import kind_of_record
from xai_reports.render import MockRenderer, use_renderer
out = {}
for kind, path in json.loads(sys.argv[1]).items():
    record = json.load(open(path))
    rerender = kind_of_record(record).rerenderer()
    with use_renderer(MockRenderer()) as mock:
        files = rerender(record, formats=("pdf", "html"))
    out[kind] = {"pdf": files["pdf"].hex(), "calls": len(mock.calls)}
assert sys.modules["weasyprint"] is None and "weasyprint.pdf" not in sys.modules
print(json.dumps(out))
"""


def test_mock_renders_real_records_without_weasyprint(records):
    from xai_reports.integrity import embedded_record

    res = subprocess.run([sys.executable, "-c", RERENDER_WITHOUT_WEASYPRINT,
                          json.dumps({k: str(v) for k, v in records.items()})],
                         capture_output=True, text=True, cwd=REPO, timeout=300,
                         env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    expected = {"adverse_action_letter": ("Principal reason(s) for our decision", "Equal Credit Opportunity Act"),
                "case_review": ("Model and intended use", "Inputs and data quality"),
                "audit_report": ("Reproducibility appendix", "Fair-lending metrics")}
    for kind, path in records.items():
        pdf = bytes.fromhex(out[kind]["pdf"])
        assert is_mock_pdf(pdf) and out[kind]["calls"] == 1
        record = json.loads(path.read_text())
        embedded, rel = embedded_record(pdf)
        assert rel == "Data" and json.loads(embedded) == record, kind
        text = _text(pdf)
        assert text.startswith(MOCK_BANNER)
        for phrase in expected[kind]:
            assert phrase in text, (kind, phrase)


def test_a_mock_made_letter_never_passes_for_a_real_one(hmda_case, tmp_path):
    """Letters made while the mock is selected say so in their records, and ``verify`` (WeasyPrint) never
    finds their PDFs to be what their records render to: it names the mock renderer."""
    from _doc_helpers import write_apps
    from xai_reports import generate_letters, verify

    apps = write_apps(hmda_case, tmp_path / "apps.csv", n=1)
    out = tmp_path / "out"
    with use_renderer(MockRenderer()) as mock:
        s = generate_letters(hmda_case["model"], apps, "finance_hmda_example", out, reference=hmda_case["reference"])
    assert s.letters == 1 and len(mock.calls) == 1
    pdf = next(out.glob("letter_*.pdf"))
    assert is_mock_pdf(pdf.read_bytes())
    software = json.loads(pdf.with_suffix(".json").read_text())["software"]
    assert software["font_subsetter"] == MOCK_FONT_SUBSETTER
    report = verify(out)
    about_pdf = [f for f in report.findings if f.subject == pdf.name]
    assert not any("exactly what its embedded record renders to" in f.message for f in about_pdf), str(report)
    assert any("mock renderer" in f.message and f.status in ("FAIL", "skip") for f in about_pdf), str(report)


@pytest.mark.parametrize("kind", ["adverse_action_letter", "case_review"])
def test_mock_text_is_the_real_text(records, kind):
    """What a template test reads on a mock PDF is on the real one: every word of the mock's text is in
    WeasyPrint's text of the same request (the real one adds only what CSS generates: list numbers, page
    footers, hyphens)."""
    from xai_reports.documents import kind_of_record

    record = json.loads(records[kind].read_text())
    with use_renderer(MockRenderer()) as mock:
        mock_pdf = kind_of_record(record).rerenderer()(record, formats=("pdf",))["pdf"]
    real_words = set(_text(mock.calls[0].replay(WeasyPrintRenderer())).split())
    mock_words = _text(mock_pdf).replace(MOCK_BANNER, "").split()
    assert len(mock_words) > 200
    assert [w for w in mock_words if w not in real_words] == []


def test_regenerate_rewrites_every_kind_from_its_record(records, tmp_path):
    """``xai_reports.regenerate`` re-renders any kind through the registry: a letter, a case-review sheet
    and an audit, each from its record alone, named like the record; the record's own figures are in it."""
    from xai_reports import regenerate

    for kind, path in records.items():
        with use_renderer(MockRenderer()):
            written = regenerate(path, tmp_path / kind, formats=("html",))
        assert [p.name for p in written] == [f"{kind}.html"]
        html = written[0].read_text(encoding="utf-8")
        record = json.loads(path.read_text())
        ident = record.get("decision_id") or record.get("case_id") or record.get("title")
        assert ident and str(ident) in html, (kind, ident)
