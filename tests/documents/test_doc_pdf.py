"""Letters as documents: PDF/A-3a + PDF/UA-1 conformance (page-validation), the embedded record,
tagging and metadata (pikepdf), the printed content (pypdf) and a rendered page (pypdfium2)."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pikepdf
import pytest
from pypdf import PdfReader

page = pytest.importorskip("page", reason="page-validation (test extra) is needed for conformance checks")

from xai_reports.errors import RenderError  # noqa: E402
from xai_reports.render import html_to_pdf  # noqa: E402

WHEN = datetime(2026, 3, 14, tzinfo=timezone.utc)


def _text(pdf_path) -> str:
    return " ".join(" ".join((p.extract_text() or "").split()) for p in PdfReader(pdf_path).pages)


def _validate(path, profile):
    report = page.validate_pdf(str(path), profile=profile)
    return report.is_compliant, [(f.rule_id, f.message) for f in report.failures]


def test_letters_are_pdfa3a_and_pdfua1(letters_run):
    pdfs = sorted(letters_run.glob("*.pdf"))
    assert pdfs
    for pdf in pdfs:
        for profile in ("3a", "ua1"):
            ok, failures = _validate(pdf, profile)
            assert ok, (pdf.name, profile, failures)


def test_validator_can_fail():
    """Control: the validator rejects WeasyPrint's unfixed PDF/A output, so the checks above mean something."""
    import weasyprint

    raw = weasyprint.HTML(string='<html lang="en"><title>t</title><p>x</p></html>').write_pdf(pdf_variant="pdf/a-3b")
    report = page.validate_pdf_bytes(raw, profile="3b")
    assert not report.is_compliant
    assert any("METADATA-FILTER" in f.rule_id for f in report.failures)


def test_untagged_variant_is_pdfa3b(tmp_path):
    html = '<html lang="en"><head><title>Plain</title></head><body><p>Archive copy</p></body></html>'
    pdf = html_to_pdf(html, base_dir=tmp_path, created=WHEN, variant="pdf/a-3b",
                      attachments=[("record.json", b'{"a": 1}\n', "Record")])
    path = tmp_path / "b.pdf"
    path.write_bytes(pdf)
    ok, failures = _validate(path, "3b")
    assert ok, failures
    with pikepdf.open(path) as doc:
        assert "/StructTreeRoot" not in doc.Root
        assert doc.attachments["record.json"].get_file().read_bytes() == b'{"a": 1}\n'


def test_embedded_record_is_the_json_file_with_relationship_data(letters_run):
    pdf = sorted(letters_run.glob("*.pdf"))[0]
    with pikepdf.open(pdf) as doc:
        spec = doc.attachments["record.json"]
        assert spec.get_file().read_bytes() == pdf.with_suffix(".json").read_bytes()
        af = doc.Root.AF
        assert len(af) == 1 and str(af[0].AFRelationship) == "/Data"
        assert str(af[0].UF) == "record.json"
        record = json.loads(spec.get_file().read_bytes())
        assert record["schema"] == "xai-reports/decision-record/1"
        # PDF/UA: tagged, language, title shown, lang from the record.
        assert "/StructTreeRoot" in doc.Root and bool(doc.Root.MarkInfo.Marked)
        assert str(doc.Root.Lang) == record["document"]["language"] == "en"
        assert bool(doc.Root.ViewerPreferences.DisplayDocTitle)
        meta = doc.Root.Metadata
        assert "/Filter" not in meta  # PDF/A: XMP stored uncompressed
        xmp = meta.read_bytes().decode()
        assert 'pdfaid:part="3"' in xmp and 'pdfaid:conformance="A"' in xmp
        assert "<pdfuaid:part>1</pdfuaid:part>" in xmp and "pdfaExtension:schemas" in xmp
        assert xmp.count("<rdf:RDF") == 1  # one packet: readers ignore a second one
        # dates come from the decision record, not the clock
        assert str(doc.docinfo.CreationDate).startswith("D:20260314")
        assert "2026-03-14T00:00:00Z" in xmp
        # every font embedded
        for pg in doc.pages:
            for _, font in pg.Resources.Font.items():
                desc = font.get("/FontDescriptor") or font.DescendantFonts[0].FontDescriptor
                assert any(k in desc for k in ("/FontFile", "/FontFile2", "/FontFile3")), font


def test_letter_prints_what_the_record_says(letters_run):
    pdf = sorted(letters_run.glob("*.pdf"))[0]
    record = json.loads(pdf.with_suffix(".json").read_text())
    content = record["document"]["content"]
    text = _text(pdf)
    assert "Notice of Action Taken and Statement of Reasons" in text
    assert f"Application number: {record['decision_id']}" in text
    assert "Date: March 14, 2026" in text
    assert content["applicant"]["name"] in text
    reasons = [r["text"] for r in content["reasons"]]
    assert 1 <= len(reasons) <= 4
    positions = [text.index(r) for r in reasons]
    assert positions == sorted(positions)  # printed in the record's order of importance
    assert "Equal Credit Opportunity Act" in text and "Bureau of Consumer Financial Protection" in text
    assert "Fair Credit Reporting Act" in text and "Example Credit Bureau (fictional)" in text
    assert re.search(r"Page 1 of \d", text)


def test_tag_tree_has_headings_and_list(letters_run):
    pdf = sorted(letters_run.glob("*.pdf"))[0]
    seen = set()
    with pikepdf.open(pdf) as doc:
        stack = [doc.Root.StructTreeRoot]
        while stack:
            node = stack.pop()
            if isinstance(node, pikepdf.Dictionary):
                if "/S" in node:
                    seen.add(str(node.S))
                kids = node.get("/K")
                if isinstance(kids, pikepdf.Array):
                    stack.extend(k for k in kids if isinstance(k, pikepdf.Dictionary))
                elif isinstance(kids, pikepdf.Dictionary):
                    stack.append(kids)
    assert {"/Document", "/H1", "/H2", "/L", "/LI", "/P"} <= seen, seen


def _chart_png(alpha: bool) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2), dpi=60)
    ax.barh(["Debt to income", "Loan to value"], [0.8, 0.3])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None}, transparent=alpha)
    plt.close(fig)
    return buf.getvalue()


def test_chart_with_alt_text_is_conformant_and_not_interpolated(tmp_path):
    import base64

    from xai_reports.render.images import png_data_uri

    uri = png_data_uri(_chart_png(alpha=True))
    assert uri.startswith("data:image/png;base64,")
    html = ('<html lang="en"><head><title>Chart</title></head><body><h1>Chart</h1>'
            f'<img src="{uri}" alt="Bar chart: debt to income pushes most toward denial"></body></html>')
    pdf = html_to_pdf(html, base_dir=tmp_path, created=WHEN)
    path = tmp_path / "chart.pdf"
    path.write_bytes(pdf)
    for profile in ("3a", "ua1"):
        ok, failures = _validate(path, profile)
        assert ok, (profile, failures)
    with pikepdf.open(path) as doc:
        images = [x for pg in doc.pages for _, x in pg.Resources.get("/XObject", {}).items()
                  if x.get("/Subtype") == "/Image"]
        assert images and all(not bool(x.get("/Interpolate", False)) for x in images)
    # PNG alpha flattened: same pixels on white, no SMask needed
    raw = base64.b64decode(uri.split(",", 1)[1])
    assert raw[25] == 2  # PNG colour type 2 = RGB, no alpha channel


def test_image_without_alt_is_refused(tmp_path):
    html = ('<html lang="en"><head><title>T</title></head><body>'
            '<img src="data:image/png;base64,iVBORw0KGgo="></body></html>')
    with pytest.raises(RenderError, match="without alt"):
        html_to_pdf(html, base_dir=tmp_path, created=WHEN)


@pytest.mark.parametrize("html, problem", [
    ("<html><head><title>T</title></head><body>x</body></html>", "no lang"),
    ('<html lang="en"><head></head><body>x</body></html>', "no <title>"),
    ('<html lang="en"><head><title>T</title></head><body><svg width="10" height="10"></svg></body></html>',
     "svg"),
])
def test_pdfua_prerequisites_are_enforced(tmp_path, html, problem):
    with pytest.raises(RenderError, match=re.escape(problem)):
        html_to_pdf(html, base_dir=tmp_path, created=WHEN)


def test_rendered_page_is_a_letter(letters_run, tmp_path):
    """Page 1 rendered to pixels: ink on a white page, in the text area, not blank or all black."""
    import numpy as np
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(sorted(letters_run.glob("*.pdf"))[0]))
    img = np.asarray(pdf[0].render(scale=1).to_pil().convert("L"))
    assert img.shape == (792, 612)  # US letter at 72 dpi
    ink = img < 128
    assert 0.01 < ink.mean() < 0.2
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    assert rows[0] > 30 and cols[0] > 40 and cols[-1] < 612 - 40  # inside the page margins


def test_stream_ending_in_cr_gets_crlf_marker():
    """pydyf fix: data ending in CR must not be read as a CRLF end-of-line (wrong /Length, PDF/A failure)."""
    import pydyf

    from xai_reports.render.pdf import _weasyprint

    _weasyprint()  # installs the fix
    data = pydyf.Stream([b"abc\r"], compress=False).data
    assert data.endswith(b"stream\nabc\r\r\nendstream") and b"/Length 4" in data
    assert pydyf.Stream([b"abc"], compress=False).data.endswith(b"stream\nabc\nendstream")


def test_record_compressing_to_cr_still_conforms(tmp_path):
    """A record whose deflated bytes end in CR (found by search, see below) keeps a correct /Length."""
    import zlib

    def record(i):
        return ('{"record": %d, "pad": "%s"}\n' % (i, "x" * (i % 7))).encode()

    def deflated(raw):
        c = zlib.compressobj(level=9)
        return c.compress(raw) + c.flush()

    i = next(i for i in range(5000) if deflated(record(i)).endswith(b"\r"))
    html = '<html lang="en"><head><title>CR</title></head><body><p>x</p></body></html>'
    pdf = html_to_pdf(html, base_dir=tmp_path, created=WHEN, attachments=[("record.json", record(i), "r")])
    assert b"\r\r\nendstream" in pdf  # the case the fix exists for did occur
    report = page.validate_pdf_bytes(pdf, profile="3a")
    assert report.is_compliant, [f.rule_id for f in report.failures]


def _fonts_used(pdf: bytes) -> set[str]:
    """BaseFont names of every font the PDF embeds (subset prefixes removed)."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        return {str(obj.get("/BaseFont")).split("+")[-1] for obj in doc.objects
                if isinstance(obj, pikepdf.Dictionary) and obj.get("/Type") == "/Font" and "/BaseFont" in obj}


def test_fonts_of_one_document_never_reach_the_next(tmp_path):
    """Documents share one font configuration for speed, but not a document's own @font-face fonts."""
    import shutil

    import matplotlib

    import xai_reports.render.pdf as pdf_mod

    shutil.copy(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSerif.ttf", tmp_path / "serif.ttf")
    declares = ('<html lang="en"><title>A</title><style>@font-face { font-family: "Borrowed"; '
                'src: url("serif.ttf"); } p { font-family: "Borrowed", "DejaVu Sans"; }</style>'
                "<p>Serif text</p></html>")
    uses = ('<html lang="en"><title>B</title><style>p { font-family: "Borrowed", "DejaVu Sans"; }</style>'
            "<p>Sans text</p></html>")
    pdf_mod._FONTS.config = None
    fresh_b = html_to_pdf(uses, base_dir=".", created=WHEN)
    shared = pdf_mod._FONTS.config
    assert html_to_pdf(uses, base_dir=".", created=WHEN) == fresh_b     # shared and fresh: same bytes
    assert pdf_mod._FONTS.config is shared
    a = html_to_pdf(declares, base_dir=tmp_path, created=WHEN)
    assert "Borrowed" in _fonts_used(a)                  # the declared font was used in A
    after_a = html_to_pdf(uses, base_dir=".", created=WHEN)
    assert pdf_mod._FONTS.config is not shared                           # A's configuration was dropped
    assert "Borrowed" not in _fonts_used(after_a)
    assert after_a == fresh_b


def test_threads_render_with_their_own_font_configuration():
    """Pango's font map is not shared between threads: each thread keeps its own configuration."""
    import threading

    import xai_reports.render.pdf as pdf_mod

    html = '<html lang="en"><title>T</title><p>Threads</p></html>'
    first = html_to_pdf(html, base_dir=".", created=WHEN)
    configs, pdfs = [], []

    def work():
        pdfs.append(html_to_pdf(html, base_dir=".", created=WHEN))
        configs.append(pdf_mod._FONTS.config)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in configs}) == 3 and pdf_mod._FONTS.config not in configs
    assert pdfs == [first] * 3
