"""Clock-free bytes on both font subsetters (HarfBuzz-Subset and WeasyPrint's fontTools fallback).

The same document rendered at two wall-clock times, with ``SOURCE_DATE_EPOCH`` set
or not, in another process, under another ``TZ`` and locale gives the same bytes;
the embedded font subsets carry the document's date, not the clock; nothing
process-wide (environment, locale) is changed; the record names the subsetter and
a re-render uses it; a missing HarfBuzz-Subset is said loudly, once.
"""

from __future__ import annotations

import io
import locale
import os
import subprocess
import sys
import time
import warnings
from datetime import datetime, timezone

import pytest

from _doc_helpers import REPO, run_cli
from xai_reports.render import pdf as pdfmod
from xai_reports.render import FontSubsetterWarning, font_subsetter, html_to_pdf

CREATED = datetime(2026, 3, 14, 9, 30, tzinfo=timezone.utc)
# text in two fonts (regular, bold) and a few non-ASCII glyphs, so several subsets are embedded
HTML = ('<html lang="en"><head><title>Reproducible</title></head><body>'
        '<h1>Notice of action taken</h1><p>Your application was <b>denied</b>: débito, naïve, 12 345,67 €.</p>'
        '</body></html>')


def _have_harfbuzz() -> bool:
    return font_subsetter().startswith("harfbuzz-subset")


needs_harfbuzz = pytest.mark.skipif(not _have_harfbuzz(), reason="HarfBuzz-Subset (libharfbuzz-subset0) is "
                                                                  "not installed here: only the fontTools path runs")
SUBSETTERS = [pytest.param("harfbuzz-subset", marks=needs_harfbuzz), "fonttools"]


def _render(subsetter, html=HTML, created=CREATED):
    return html_to_pdf(html, base_dir=REPO / "templates", created=created, font_subsetter=subsetter,
                       attachments=[("record.json", b'{"x":1}\n', "record")])


def _font_heads(pdf: bytes) -> list:
    """``(head.created, head.modified)`` of every embedded TrueType/OpenType font program."""
    import pikepdf
    from fontTools.ttLib import TTFont

    out = []
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        for obj in doc.objects:
            if isinstance(obj, pikepdf.Dictionary) and obj.get("/Type") == "/FontDescriptor":
                for key in ("/FontFile2", "/FontFile3"):
                    if key in obj:
                        font = TTFont(io.BytesIO(obj[key].read_bytes()))
                        out.append((font["head"].created, font["head"].modified))
    return out


def _font_stamp(dt: datetime) -> int:
    from fontTools.misc.timeTools import epoch_diff

    return int(dt.timestamp()) - epoch_diff


@pytest.mark.parametrize("subsetter", SUBSETTERS)
def test_same_bytes_at_another_wall_clock_time(subsetter, monkeypatch):
    first = _render(subsetter)
    # a year later by the clock, and SOURCE_DATE_EPOCH (which fontTools honours) set to something else
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 366 * 86400)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1000000000")
    assert _render(subsetter) == first


@pytest.mark.parametrize("subsetter", SUBSETTERS)
def test_same_bytes_across_a_second_boundary(subsetter):
    first = _render(subsetter)
    time.sleep(1.1)
    assert _render(subsetter) == first


@pytest.mark.parametrize("subsetter", SUBSETTERS)
def test_font_subsets_carry_the_document_date_not_the_clock(subsetter):
    heads = _font_heads(_render(subsetter))
    assert heads, "no embedded font program found"
    source_heads = {c for c, _ in heads}
    for created, modified in heads:
        # HarfBuzz keeps the font file's own stamps; the fontTools path is stamped with the document's date
        assert modified == (_font_stamp(CREATED) if subsetter == "fonttools" else modified)
        assert abs(modified - _font_stamp(datetime.now(timezone.utc))) > 86400, "a stamp from the clock"
    assert source_heads  # created: from the font file (the installed font), never the clock
    other = _font_heads(_render(subsetter, created=datetime(2001, 2, 3, tzinfo=timezone.utc)))
    if subsetter == "fonttools":
        assert {m for _, m in other} == {_font_stamp(datetime(2001, 2, 3, tzinfo=timezone.utc))}


def test_the_two_subsetters_give_different_bytes():
    if not _have_harfbuzz():
        pytest.skip("HarfBuzz-Subset not installed here")
    assert _render("harfbuzz-subset") != _render("fonttools")


_CHILD = r"""
import sys
from datetime import datetime, timezone
from pathlib import Path
from xai_reports.render import html_to_pdf
html, out, sub = sys.argv[1], sys.argv[2], sys.argv[3]
Path(out).write_bytes(html_to_pdf(Path(html).read_text(), base_dir=Path(sys.argv[4]),
                      created=datetime(2026, 3, 14, 9, 30, tzinfo=timezone.utc), font_subsetter=sub,
                      attachments=[("record.json", b'{"x":1}\n', "record")]))
"""


@pytest.mark.parametrize("subsetter", SUBSETTERS)
def test_same_bytes_in_another_process_timezone_and_locale(subsetter, tmp_path):
    html = tmp_path / "doc.html"
    html.write_text(HTML)
    here = _render(subsetter)
    for i, env in enumerate(({"TZ": "America/New_York", "LC_ALL": "C"},
                             {"TZ": "Asia/Kolkata", "LC_ALL": "C.UTF-8", "SOURCE_DATE_EPOCH": "1"})):
        out = tmp_path / f"child{i}.pdf"
        e = {**os.environ, "PYTHONPATH": str(REPO), **env}
        subprocess.run([sys.executable, "-c", _CHILD, html, out, subsetter, REPO / "templates"], check=True,
                       env=e, timeout=120)
        assert out.read_bytes() == here, env


def test_rendering_changes_no_process_wide_state(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    env = dict(os.environ)
    loc = locale.setlocale(locale.LC_ALL)
    tz = time.tzname
    _render("fonttools")
    if _have_harfbuzz():
        _render("harfbuzz-subset")
    assert dict(os.environ) == env and locale.setlocale(locale.LC_ALL) == loc and time.tzname == tz
    # the font clock override is confined to the render: fontTools' clock is the clock again afterwards
    from fontTools.misc.timeTools import timestampNow

    assert abs(timestampNow() - _font_stamp(datetime.now(timezone.utc))) < 5


def test_a_forced_subsetter_does_not_leak_into_the_next_render_or_another_thread():
    if not _have_harfbuzz():
        pytest.skip("HarfBuzz-Subset not installed here")
    from concurrent.futures import ThreadPoolExecutor

    hb, ft = _render("harfbuzz-subset"), _render("fonttools")
    assert _render(None) == hb  # the default after a forced fontTools render
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(_render, ["fonttools", None, "fonttools", None] * 2))
    assert got == [ft, hb, ft, hb] * 2


@pytest.fixture
def no_harfbuzz(monkeypatch):
    """WeasyPrint as on a machine without libharfbuzz-subset0 (its module global is None then)."""
    import weasyprint.pdf.fonts as wp_fonts

    pdfmod._weasyprint()
    monkeypatch.setattr(wp_fonts, "harfbuzz_subset", None)
    monkeypatch.setattr(pdfmod, "_SUBSET_WARNED", False)
    return wp_fonts


def test_without_harfbuzz_fonttools_is_used_said_once_and_deterministic(no_harfbuzz):
    assert font_subsetter().startswith("fonttools ")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = _render(None)
        b = _render(None)
    said = [w for w in caught if issubclass(w.category, FontSubsetterWarning)]
    assert len(said) == 1, [str(w.message) for w in caught]
    assert "libharfbuzz-subset0" in str(said[0].message) and "brew install harfbuzz" in str(said[0].message)
    assert a == b == _render("fonttools")
    with pytest.raises(Exception, match="HarfBuzz-Subset, which is not installed here"):
        _render("harfbuzz-subset")


def test_cli_warns_once_on_stderr_without_harfbuzz(tmp_path):
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(_render("fonttools"))
    code = ("import sys, weasyprint.pdf.fonts as f; f.harfbuzz_subset = None; "
            "from xai_reports.cli import main; sys.exit(main(sys.argv[1:]))")
    res = subprocess.run([sys.executable, "-c", code, "verify", str(pdf), "--quick"], capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    lines = [ln for ln in res.stderr.splitlines() if "HarfBuzz-Subset" in ln]
    assert len(lines) == 1 and lines[0].startswith("xai-reports: warning: HarfBuzz-Subset is not installed"), \
        res.stderr
    if _have_harfbuzz():
        plain = run_cli("verify", pdf, "--quick")
        assert "HarfBuzz" not in plain.stderr, plain.stderr


# ------------------------------------------------------------------------------ records and verify
def _letter_record(letters_run):
    import json

    path = sorted(letters_run.glob("letter_*.json"))[0]
    return json.loads(path.read_text())


def test_records_name_the_subsetter_and_a_rerender_uses_it(letters_run, tmp_path):
    import json

    from xai_reports.integrity import verify
    from xai_reports.documents.letter import rerender_letter

    record = _letter_record(letters_run)
    assert record["software"]["font_subsetter"] == font_subsetter()
    # a letter written on a machine without HarfBuzz-Subset verifies here: the re-render uses fontTools
    import fontTools

    record["software"]["font_subsetter"] = f"fonttools {fontTools.version}"
    files = rerender_letter(record, formats=("pdf", "html", "json"))
    assert _font_heads(files["pdf"]) and {m for _, m in _font_heads(files["pdf"])} == {
        _font_stamp(datetime.fromisoformat(record["document"]["content"]["date"]).replace(tzinfo=timezone.utc))}
    lone = tmp_path / "lone"
    lone.mkdir()
    for ext, data in files.items():
        (lone / f"letter.{ext}").write_bytes(data)
    report = verify(lone / "letter.pdf")
    assert report.ok and not report.not_compared, str(report)
    assert "document is exactly what its embedded record renders to" in str(report)
    assert json.loads((lone / "letter.json").read_text())["software"]["font_subsetter"].startswith("fonttools")


def test_verify_says_when_the_rerender_used_another_subsetter(letters_run, tmp_path):
    """A record naming another subsetter version than the one here: not compared (exit 2), and said why."""
    if not _have_harfbuzz():
        pytest.skip("HarfBuzz-Subset not installed here")
    from xai_reports.integrity import verify
    from xai_reports.documents.letter import render_letter
    from xai_reports.packs import load_pack

    record = _letter_record(letters_run)
    record["software"]["font_subsetter"] = "harfbuzz-subset 2.0.0"   # made elsewhere, by an older HarfBuzz
    # ...whose subsets differed: stand in with the fontTools subset of the same document
    record_ft = {**record, "software": {**record["software"], "font_subsetter": "fonttools 0"}}
    pdf_ft = render_letter(record_ft, load_pack("finance"), formats=("pdf",))["pdf"]
    from xai_reports.integrity import embedded_record

    # put the harfbuzz-naming record into that PDF: re-render it the same way with the record swapped in
    import pikepdf

    with pikepdf.open(io.BytesIO(pdf_ft)) as doc:
        names = doc.Root.Names.EmbeddedFiles.Names
        from xai_reports.io.outputs import canonical_json

        names[1].EF.F.write(canonical_json(record).encode("utf-8"))
        buf = io.BytesIO()
        doc.save(buf)
    (tmp_path / "letter.pdf").write_bytes(buf.getvalue())
    assert embedded_record(buf.getvalue())[0] == canonical_json(record).encode("utf-8")
    report = verify(tmp_path / "letter.pdf")
    assert report.ok, str(report)   # nothing says it was tampered with: the visible text is the record's
    skipped = "\n".join(map(str, report.not_compared))
    assert f"this re-render used {font_subsetter()}, the record names harfbuzz-subset 2.0.0" in skipped, str(report)
    res = run_cli("verify", tmp_path / "letter.pdf")
    assert res.returncode == 2 and "NOT VERIFIED: 1 document(s)" in res.stdout, res.stdout
    assert run_cli("verify", tmp_path / "letter.pdf", "--quick").returncode == 0


def test_verify_without_harfbuzz_lists_what_it_could_not_compare(letters_run, no_harfbuzz):
    from xai_reports.integrity import verify

    report = verify(letters_run)
    if not _letter_record(letters_run)["software"]["font_subsetter"].startswith("harfbuzz"):
        pytest.skip("these letters were made without HarfBuzz-Subset")
    assert report.ok, str(report)
    assert len(report.not_compared) == len(list(letters_run.glob("*.pdf")))
    assert all("HarfBuzz-Subset, which is not installed here" in f.message for f in report.not_compared)
