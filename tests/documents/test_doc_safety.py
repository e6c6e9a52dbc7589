"""Safe rendering: nothing outside the template folders is read, nothing is requested over the network,
whether the attack comes through a data field (an applicant's name) or a user template; output file
names derived from ids stay inside the output folder."""

from __future__ import annotations

import json
import os
import re
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pikepdf
import pytest
from pypdf import PdfReader

from _doc_helpers import run_cli, write_apps
from xai_reports.errors import RenderError, TemplateError
from xai_reports.render import external_resources, html_to_pdf, render_template, safe_fetcher

WHEN = datetime(2026, 3, 14, tzinfo=timezone.utc)
SECRET = "xai-reports-test-secret-7f3a9c"


@pytest.fixture()
def server():
    """A local HTTP server that records every request it receives."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            body = b"body { background: red }"
            self.send_response(200)
            self.send_header("Content-Type", "text/css")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{httpd.server_address[1]}/", "hits": hits}
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def secret_file(tmp_path):
    """A file outside every template folder whose content must never show up anywhere."""
    p = tmp_path / "outside" / "secret.txt"
    p.parent.mkdir()
    p.write_text(SECRET)
    return p


def _payloads(server, secret_file):
    return [
        f'<img src="file://{secret_file}" alt="x">',
        f'<link rel="attachment" href="file://{secret_file}">',
        f'<img src="{server["url"]}pixel.png" alt="x">',
        f'<link rel="stylesheet" href="{server["url"]}style.css">',
        '<img src="file:///etc/hostname" alt="x">',
        '<link rel="attachment" href="file:///etc/hostname">',
    ]


def _all_bytes(folder: Path) -> bytes:
    out = b""
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            out += p.read_bytes()
            if p.suffix == ".pdf":
                with pikepdf.open(p) as doc:
                    for name, spec in doc.attachments.items():
                        out += name.encode() + spec.get_file().read_bytes()
    return out


def test_server_and_plain_weasyprint_do_fetch(server, secret_file):
    """Control: unconfined WeasyPrint requests the URL and embeds the file, so the checks below can fail."""
    import weasyprint

    html = (f'<html><head><link rel="stylesheet" href="{server["url"]}style.css">'
            f'<link rel="attachment" href="file://{secret_file}"></head><body>x</body></html>')
    pdf = weasyprint.HTML(string=html).write_pdf()
    assert server["hits"] == ["/style.css"]
    with pikepdf.open(__import__("io").BytesIO(pdf)) as doc:
        assert SECRET.encode() in b"".join(s.get_file().read_bytes() for s in doc.attachments.values())


def test_injection_through_a_data_field_reads_and_requests_nothing(hmda_case, tmp_path, server, secret_file):
    payloads = _payloads(server, secret_file)
    apps = write_apps(hmda_case, tmp_path / "apps.csv", n=len(payloads), applicant_name=payloads,
                      applicant_address=[p + "; Springfield" for p in payloads[::-1]])
    out = tmp_path / "out"
    from xai_reports import generate_letters

    summary = generate_letters(hmda_case["model"], apps, "finance_hmda_example", out, reference=hmda_case["reference"])
    assert summary.letters == len(payloads) and not summary.errors
    assert server["hits"] == []
    everything = _all_bytes(out)
    assert SECRET.encode() not in everything
    hostname = Path("/etc/hostname").read_bytes().strip() if Path("/etc/hostname").exists() else None
    if hostname:
        with pikepdf.open(next(out.glob("*.pdf"))) as doc:
            assert list(doc.attachments) == ["record.json"]
    # The name is printed as text, escaped in the HTML, never as markup.
    html = sorted(out.glob("*.html"))[0].read_text()
    for path in out.glob("*.html"):
        html = path.read_text()
        assert "<img" not in html and "<link rel=\"attachment" not in html and "<link rel=\"stylesheet" not in html
        assert external_resources(html) == []
    html = (out / "letter_R-0.html").read_text()
    assert "Dear &lt;img src=&#34;file://" in html
    text = "".join(PdfReader(out / "letter_R-0.pdf").pages[0].extract_text().split())  # long path wraps
    assert f'Dear<imgsrc="file://{secret_file}"alt="x">,' in text


def _user_templates(tmp_path, payload: str) -> Path:
    d = tmp_path / "user_templates" / "finance"
    d.mkdir(parents=True)
    (d / "adverse_action_letter.html.j2").write_text(
        '{% extends "pack:finance/adverse_action_letter.html.j2" %}\n'
        "{% block letterhead %}" + payload + "<p>Evil Bank</p>{% endblock %}\n")
    return d.parent


def test_injection_through_a_user_template_is_refused_cli(hmda_case, tmp_path, server, secret_file):
    user = _user_templates(tmp_path, "".join(_payloads(server, secret_file)))
    out = tmp_path / "out"
    res = run_cli("letters", "--pack", "finance_hmda_example", "--model", hmda_case["model"], "--data", hmda_case["apps"],
                  "--out", out, "--reference", hmda_case["reference"], "--templates", user, "--quiet")
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "self-contained" in res.stderr and str(secret_file) in res.stderr, res.stderr
    assert server["hits"] == []
    assert not list(out.glob("*.pdf")) and not list(out.glob("*.html"))


@pytest.mark.parametrize("k", range(6))
def test_injection_through_a_user_template_is_refused(hmda_case, tmp_path, server, secret_file, k):
    from xai_reports import generate_letters

    payload = _payloads(server, secret_file)[k]
    user = _user_templates(tmp_path, payload)
    out = tmp_path / "out"
    with pytest.raises(TemplateError, match="self-contained") as err:
        generate_letters(hmda_case["model"], hmda_case["apps"], "finance_hmda_example", out, reference=hmda_case["reference"],
                         templates=user)
    url = re.search(r'(?:src|href)="([^"]+)"', payload).group(1)
    assert url in str(err.value)
    assert server["hits"] == []
    assert not list(out.glob("*.pdf")) and not list(out.glob("*.html"))


def test_html_to_pdf_fetcher_refuses_without_reading(tmp_path, server, secret_file):
    """Even HTML that skips the template checks (handed straight to html_to_pdf) reads and requests nothing."""
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    css = (f'@import url("{server["url"]}a.css"); body {{ background: url("file://{secret_file}") }} '
           f'p {{ background: url("file:///etc/hostname") }}')
    html = (f'<html lang="en"><head><title>T</title><style>{css}</style></head>'
            f'<body><p>x</p><img src="{server["url"]}i.png" alt="i"></body></html>')
    with pytest.raises(RenderError, match="refused, nothing read") as err:
        html_to_pdf(html, base_dir=tpl, created=WHEN)
    assert server["url"] in str(err.value) and str(secret_file) in str(err.value)
    assert server["hits"] == []


def test_fetcher_path_tricks(tmp_path, secret_file):
    tpl = tmp_path / "tpl"
    (tpl / "sub").mkdir(parents=True)
    (tpl / "ok.css").write_text("p { color: #123456 }")
    (tpl / "sub" / "ok.css").write_text("p { color: #123456 }")
    (tpl / "link.css").symlink_to(secret_file)
    (tpl / "dirlink").symlink_to(secret_file.parent, target_is_directory=True)
    f = safe_fetcher([tpl])
    inside = f"file://{tpl}/ok.css"
    assert f.resolve_file(inside) == (tpl / "ok.css").resolve()
    assert f.resolve_file(f"file://localhost{tpl}/sub/../ok.css") == (tpl / "ok.css").resolve()
    tricks = [
        f"file://{tpl}/../outside/secret.txt",
        f"file://{tpl}/%2e%2e/outside/secret.txt",
        f"file://{tpl}/%2E%2E/%2e%2e/{tmp_path.name}/outside/secret.txt",
        f"file://{tpl}/link.css",
        f"file://{tpl}/dirlink/secret.txt",
        f"file://evil.example{tpl}/ok.css",
        f"file:///{tpl}/ok.css".replace("file:///", "file:////"),
        f"file://{tpl}/ok.css%00.png",
        "file:///etc/hostname",
        f"file://{secret_file}",
    ]
    for url in tricks:
        assert f.resolve_file(url) is None, url
        with pytest.raises(ValueError, match="refused"):
            f.fetch(url)
    assert len(f.refused) == len(tricks)
    # and through a real render, relative URLs included: the allowed file is used, the others refused
    html = ('<html lang="en"><head><title>T</title><link rel="stylesheet" href="ok.css">'
            '<link rel="stylesheet" href="../outside/secret.txt"><link rel="stylesheet" href="link.css">'
            '<link rel="stylesheet" href="%2e%2e/outside/secret.txt"></head><body><p>x</p></body></html>')
    with pytest.raises(RenderError) as err:
        html_to_pdf(html, base_dir=tpl, created=WHEN)
    assert "secret.txt" in str(err.value) and "link.css" in str(err.value) and "ok.css" not in str(err.value)


def test_allowed_template_file_is_used(tmp_path):
    """Positive control: a stylesheet inside the template folder is read (the fetcher is not just 'deny all')."""
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "ok.css").write_text("p { color: rgb(18, 52, 86) }")
    html = ('<html lang="en"><head><title>T</title><link rel="stylesheet" href="ok.css"></head>'
            '<body><p>coloured</p></body></html>')
    pdf = html_to_pdf(html, base_dir=tpl, created=WHEN)
    import zlib

    streams = []
    with pikepdf.open(__import__("io").BytesIO(pdf)) as doc:
        for pg in doc.pages:
            streams.append(pg.Contents.read_bytes() if not isinstance(pg.Contents, pikepdf.Array)
                           else b"".join(c.read_bytes() for c in pg.Contents))
    content = b"".join(streams)
    assert b"0.0705882 0.203922 0.337255" in content or b"0.070588 0.203922 0.337255" in content, content[:400]
    del zlib


def test_sandbox_and_strict_undefined(tmp_path):
    d = tmp_path / "t"
    d.mkdir()
    (d / "evil.html.j2").write_text("{{ doc.__class__.__mro__[1].__subclasses__() }}")
    (d / "missing.html.j2").write_text("<p>{{ doc.no_such_field }}</p>")
    with pytest.raises(TemplateError, match="unsafe"):
        render_template("evil.html.j2", {"doc": {}}, [d])
    with pytest.raises(TemplateError, match="no_such_field"):
        render_template("missing.html.j2", {"doc": {}}, [d])


BAD_IDS = ["../../escaped", f"/tmp/xai-reports-absolute-escape-{os.getpid()}", "..", "a/../../b", ".hidden",
           "..\\..\\win", "x" * 300, "ok-id"]


def test_output_names_from_ids_stay_inside(hmda_case, tmp_path):
    apps = write_apps(hmda_case, tmp_path / "apps.csv", n=len(BAD_IDS))
    import pandas as pd

    df = pd.read_csv(apps, dtype=str, keep_default_na=False)
    df["applicant_id"] = BAD_IDS
    df.to_csv(apps, index=False)
    out = tmp_path / "nested" / "out"
    res = run_cli("letters", "--pack", "finance_hmda_example", "--model", hmda_case["model"], "--data", apps, "--out", out,
                  "--reference", hmda_case["reference"], "--quiet", "--format", "json,html")
    assert res.returncode == 0, res.stderr
    written = sorted(p.name for p in out.iterdir())
    letters = [n for n in written if n.startswith("letter_") and n.endswith(".json")]
    assert len(letters) == len(BAD_IDS), written
    assert all(len(n) < 100 for n in written)
    ids = sorted(json.loads((out / n).read_text())["decision_id"] for n in letters)
    assert ids == sorted(BAD_IDS)  # every id kept intact in its record
    assert "letter_ok-id.json" in written  # ordinary ids keep their plain names
    # nothing appeared next to or above the output folder, nor at the absolute path
    assert sorted(p.name for p in (tmp_path / "nested").iterdir()) == ["out"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["apps.csv", "nested"]
    assert not list(Path("/tmp").glob(f"xai-reports-absolute-escape-{os.getpid()}*"))
    assert not list(Path("/").glob("escaped*")) and not (tmp_path.parent / "escaped.json").exists()


def test_nul_and_colliding_ids_through_the_python_api(hmda_case, tmp_path):
    """A NUL (or any control character) in an id is refused, naming row and column, before anything is
    written (a DataFrame can carry one where a CSV cannot). Two ids that sanitise alike do not collide."""
    import pandas as pd

    from xai_reports import InputError, generate_letters

    df = pd.read_csv(hmda_case["apps"], dtype=str, keep_default_na=False)
    df["applicant_id"] = ["a\x00/../../b", "a/b", "a_b", "a_b-c14cddc0"]
    with pytest.raises(InputError, match=r"row 1, column 'applicant_id': decision id 'a\\x00/\.\./\.\./b' contains"):
        generate_letters(hmda_case["model"], df, "finance_hmda_example", tmp_path / "nul", reference=hmda_case["reference"],
                         formats=("json",))
    assert not (tmp_path / "nul").exists()
    df["applicant_id"] = ["a?/../../b", "a/b", "a_b", "a_b-c14cddc0"]
    out = tmp_path / "out"
    summary = generate_letters(hmda_case["model"], df, "finance_hmda_example", out, reference=hmda_case["reference"],
                               formats=("json",))
    names = sorted(p.name for p in out.iterdir())
    assert all("?" not in n and "/" not in n for n in names)
    ids = {json.loads((out / n).read_text())["decision_id"] for n in names if n.startswith("letter_")}
    # the crafted id equal to another's sanitised name is refused as a row error, never overwrites
    assert len(summary.errors) == 1 and "written as letter_a_b-c14cddc0" in summary.errors[0]["error"]
    assert summary.errors[0]["id"] == "a_b-c14cddc0"
    assert ids == {"a?/../../b", "a/b", "a_b"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
