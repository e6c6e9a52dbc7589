"""Institutions override parts, not wholes: one block from a user folder or a pack, same-name overrides
through the ``pack:`` / ``shipped:`` namespaces; and the Spanish letter, chosen per row or by the pack."""

from __future__ import annotations

import json
import shutil
import textwrap

import pytest
from pypdf import PdfReader

from _doc_helpers import run_cli, write_apps
from xai_reports import generate_letters
from xai_reports.errors import TemplateError
from xai_reports.packs import load_pack
from xai_reports.render import render_template, template_search_path
from xai_reports.render.env import long_date


def _text(pdf) -> str:
    return " ".join(" ".join((p.extract_text() or "").split()) for p in PdfReader(pdf).pages)


LETTERHEAD = ('{% block letterhead %}<p><strong>First Prairie Credit Union</strong></p>'
              '<p>{{ asset_data_uri("mark.txt")[:22] }}</p>{% endblock %}\n')


def _user_folder(tmp_path, *, same_name: bool):
    d = tmp_path / "ours"
    (d / "finance").mkdir(parents=True)
    (d / "mark.txt").write_text("logo")
    if same_name:
        (d / "finance" / "adverse_action_letter.html.j2").write_text(
            '{% extends "pack:finance/adverse_action_letter.html.j2" %}\n' + LETTERHEAD)
    else:
        (d / "finance" / "our_letter.html.j2").write_text(
            '{% extends "finance/adverse_action_letter.html.j2" %}\n' + LETTERHEAD
            + "{% block closing %}<p>Kind regards,<br>{{ d.creditor.name }}</p>{% endblock %}\n")
    return d


def test_same_name_override_replaces_one_block_cli(hmda_case, tmp_path):
    user = _user_folder(tmp_path, same_name=True)
    apps = write_apps(hmda_case, tmp_path / "apps.csv", n=2, language=["en", "es"])
    out = tmp_path / "out"
    res = run_cli("letters", "--pack", "finance_hmda_example", "--model", hmda_case["model"], "--data", apps, "--out", out,
                  "--reference", hmda_case["reference"], "--templates", user, "--quiet")
    assert res.returncode == 0, res.stderr
    en, es = _text(out / "letter_R-0.pdf"), _text(out / "letter_R-1.pdf")
    for text in (en, es):  # the override reaches both languages
        assert "First Prairie Credit Union" in text and "data:text/plain;base6" in text
        assert "Example Community Bank (fictional) 100 Main Street" not in text
    assert "Equal Credit Opportunity Act" in en and "Sincerely" in en  # the rest is the shipped letter
    assert "Igualdad de Oportunidades de Crédito" in es and "Atentamente" in es
    rec = json.loads((out / "letter_R-0.json").read_text())
    files = rec["document"]["template"]["files"]
    assert {"finance/adverse_action_letter.html.j2", "pack:finance/adverse_action_letter.html.j2",
            "base.html.j2"} <= set(files)
    assert files["finance/adverse_action_letter.html.j2"] != files["pack:finance/adverse_action_letter.html.j2"]
    # verify needs the same template folder to re-render; without it, it says why
    from xai_reports.integrity import verify

    ok = verify(out, templates=[user])
    assert ok.ok and "exactly what its embedded record renders to" in str(ok), str(ok)
    res = verify(out)
    assert res.ok and "differs from the recorded version" in str(res)


def test_pack_with_its_own_template_file(hmda_case, tmp_path, mock_renderer):
    """A pack that extends finance, with a templates/ folder next to it and another file name (template
    content only: the PDFs come from the mock renderer)."""
    user = _user_folder(tmp_path, same_name=False)
    pack_dir = tmp_path / "mybank"
    shutil.copytree(user, pack_dir / "templates")
    (pack_dir / "pack.yaml").write_text(textwrap.dedent("""\
        extends: finance_hmda_example
        name: mybank
        version: "1.0.0"
        templates:
          letter: finance/our_letter.html.j2
        """))
    pack = load_pack(pack_dir)
    assert pack.template_dirs()[0] == (pack_dir / "templates").resolve()
    out = tmp_path / "out"
    s = generate_letters(hmda_case["model"], hmda_case["apps"], pack, out, reference=hmda_case["reference"],
                         formats=("pdf",))
    assert s.letters == 4 and not s.errors
    text = _text(sorted(out.glob("*.pdf"))[0])
    assert "First Prairie Credit Union" in text and "Kind regards" in text and "Sincerely" not in text
    assert "Principal reason(s) for our decision" in text


def test_template_extending_itself_says_how_to_fix(tmp_path):
    d = tmp_path / "t" / "finance"
    d.mkdir(parents=True)
    (d / "adverse_action_letter.html.j2").write_text('{% extends "finance/adverse_action_letter.html.j2" %}')
    dirs = template_search_path(load_pack("finance_hmda_example").template_dirs(), d.parent)
    with pytest.raises(TemplateError, match="pack:finance/adverse_action_letter.html.j2"):
        render_template("finance/adverse_action_letter.html.j2", {"doc": {}}, dirs)


def test_asset_data_uri_is_confined(tmp_path):
    d = tmp_path / "t"
    d.mkdir()
    (tmp_path / "secret.txt").write_text("s")
    (d / "a.html.j2").write_text('{{ asset_data_uri("../secret.txt") }}')
    (d / "b.html.j2").write_text('{{ asset_data_uri("/etc/hostname") }}')
    for name in ("a.html.j2", "b.html.j2"):
        with pytest.raises(TemplateError, match="asset"):
            render_template(name, {}, [d])


def test_missing_user_folder_is_a_clear_error(tmp_path):
    with pytest.raises(TemplateError, match="not found"):
        template_search_path([], tmp_path / "nope")


def test_spanish_letter_by_pack_language(hmda_case, tmp_path, mock_renderer):
    """The wording on the mock's PDFs; then one of them rendered for real: PDF/A-3a, PDF/UA-1, ``/Lang``, footer."""
    pack_dir = tmp_path / "es_pack"
    pack_dir.mkdir()
    (pack_dir / "pack.yaml").write_text('extends: finance_hmda_example\nname: finance-es\nversion: "1"\nlanguage: es\n')
    apps = write_apps(hmda_case, tmp_path / "apps.csv", language="")  # no per-row choice: the pack decides
    out = tmp_path / "out"
    s = generate_letters(hmda_case["model"], apps, pack_dir, out, reference=hmda_case["reference"])
    assert s.letters == 4 and not s.errors
    pdf = sorted(out.glob("*.pdf"))[0]
    text = _text(pdf)
    rec = json.loads(pdf.with_suffix(".json").read_text())
    assert rec["document"]["language"] == "es"
    assert rec["document"]["template"]["name"] == "finance/adverse_action_letter.es.html.j2"
    for phrase in ("Aviso de acción tomada y declaración de razones", "Fecha: 14 de marzo de 2026",
                   "Número de solicitud:", "Razón o razones principales de nuestra decisión",
                   "La Ley Federal de Igualdad de Oportunidades de Crédito", "Ley de Informe Justo de Crédito",
                   "No podemos aprobar su solicitud de préstamo hipotecario",
                   "Departamento de Préstamos al Consumidor", "Atentamente"):
        assert phrase in text, phrase
    pack = load_pack("finance_hmda_example")
    for r in rec["document"]["content"]["reasons"]:
        assert r["text"] in {x.translations["es"] for x in pack.reasons.values()}
        assert r["text"] in text
        for det in r["details"]:
            assert det["label"] in text
    for english in ("Notice of Action Taken", "Principal reason", "Equal Credit Opportunity Act prohibits",
                    "Sincerely", "Telephone", "Page 1", " yes", "We are unable"):
        assert english not in text, english
    html = pdf.with_suffix(".html").read_text()
    assert '<html lang="es">' in html and "<title>Aviso de acción" in html
    # the same request, rendered by WeasyPrint: the page footer (CSS) is Spanish, the file PDF/A and PDF/UA
    from xai_reports.render import WeasyPrintRenderer

    call = next(c for c in mock_renderer.calls if c.attachments[0][1] == pdf.with_suffix(".json").read_bytes())
    real = tmp_path / "real.pdf"
    real.write_bytes(call.replay(WeasyPrintRenderer()))
    real_text = _text(real)
    assert "Página 1 de 2" in real_text and "Page 1" not in real_text
    assert "Aviso de acción tomada y declaración de razones" in real_text
    page = pytest.importorskip("page")
    for profile in ("3a", "ua1"):
        report = page.validate_pdf(str(real), profile=profile)
        assert report.is_compliant, (profile, [f.rule_id for f in report.failures])
    import pikepdf

    with pikepdf.open(real) as doc:
        assert str(doc.Root.Lang) == "es"


def test_language_per_row_and_unknown_language(hmda_case, tmp_path):
    apps = write_apps(hmda_case, tmp_path / "apps.csv", language=["es", "en", "fr", "es"])
    out = tmp_path / "out"
    s = generate_letters(hmda_case["model"], apps, "finance_hmda_example", out, reference=hmda_case["reference"],
                         formats=("json",))
    langs = {json.loads(p.read_text())["decision_id"]: json.loads(p.read_text())["document"]["language"]
             for p in out.glob("letter_*.json")}
    ids = [r for r in json.loads((out / "summary.json").read_text())["row_errors"]]
    assert len(ids) == 1 and "'fr'" in ids[0]["error"] and ids[0]["row"] == 3 and ids[0]["column"] == "language"
    assert sorted(langs.values()) == ["en", "es", "es"]


def test_an_incomplete_language_is_a_row_error(hmda_case, tmp_path):
    """A pack that adds an English-only feature keeps working in English; Spanish rows say what is missing."""
    pack_dir = tmp_path / "p"
    pack_dir.mkdir()
    (pack_dir / "pack.yaml").write_text(textwrap.dedent("""\
        extends: finance_hmda_example
        name: x
        version: "1"
        features:
          hirat:
            translations: null
        """))
    pack = load_pack(pack_dir)
    assert pack.spec.missing_translations("es") == ["features.hirat.translations.es.label"]
    assert pack.spec.missing_translations("en") == []
    apps = write_apps(hmda_case, tmp_path / "apps.csv", language=["en", "es", "en", "en"])
    out = tmp_path / "out"
    s = generate_letters(hmda_case["model"], apps, pack, out, reference=hmda_case["reference"], formats=("json",))
    assert s.letters == 3 and len(s.errors) == 1
    err = s.errors[0]
    assert err["row"] == 2 and err["column"] == "language"
    assert "'es' is incomplete" in err["error"] and "features.hirat.translations.es.label" in err["error"]


def test_long_date():
    assert long_date("2026-03-14") == "March 14, 2026"
    assert long_date("2026-03-14", "es") == "14 de marzo de 2026"
    assert long_date("2026-12-01T10:00:00", "es") == "1 de diciembre de 2026"
