"""Determinism (byte-identical outputs across processes), the run manifest, HMAC signatures and
``xai-reports verify`` catching tampering: a flipped byte, an edited record, a missing or extra file."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from _doc_helpers import run_cli
from xai_reports.integrity import (IntegrityError, RunManifest, embedded_record, sign, signing_key, verify)

KEY = "correct horse battery staple 2026"


@pytest.fixture(scope="module")
def two_runs(hmda_case, tmp_path_factory):
    """The same letters run twice, in two fresh processes (one of them signing with a key file)."""
    root = tmp_path_factory.mktemp("determinism")
    key_file = root / "key.txt"
    key_file.write_text(KEY + "\n")
    outs = []
    for name, extra in (("a", ()), ("b", ("--key-file", key_file))):
        out = root / name
        res = run_cli("letters", "--pack", "finance_hmda_example", "--model", hmda_case["model"], "--data", hmda_case["apps"],
                      "--out", out, "--reference", hmda_case["reference"], "--quiet", *extra)
        assert res.returncode == 0, res.stderr
        outs.append(out)
    return {"a": outs[0], "b": outs[1], "key_file": key_file}


def test_two_processes_write_identical_bytes(two_runs):
    a, b = two_runs["a"], two_runs["b"]
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    assert {n.rsplit(".", 1)[1] for n in names} == {"pdf", "html", "json"}
    for n in names:
        if n == "manifest.json":
            continue  # b is signed; compared below without the signature
        assert (a / n).read_bytes() == (b / n).read_bytes(), n
    ma = json.loads((a / "manifest.json").read_text())
    mb = json.loads((b / "manifest.json").read_text())
    assert "signature" not in ma and mb.pop("signature")["algorithm"] == "HMAC-SHA256"
    assert ma == mb


def test_manifest_lists_every_output_and_input(two_runs, hmda_case):
    out = two_runs["a"]
    m = json.loads((out / "manifest.json").read_text())
    assert m["schema"] == "xai-reports/manifest/1" and m["kind"] == "adverse_action_letters"
    files = {p.name for p in out.iterdir()} - {"manifest.json"}
    assert set(m["outputs"]) == files
    for name, entry in m["outputs"].items():
        data = (out / name).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    ins = m["inputs"]
    assert ins["data"]["sha256"] == hashlib.sha256(hmda_case["apps"].read_bytes()).hexdigest()
    assert ins["reference"]["sha256"] == hashlib.sha256(hmda_case["reference"].read_bytes()).hexdigest()
    assert ins["model"]["sha256"] == hashlib.sha256(hmda_case["model"].read_bytes()).hexdigest()
    assert ins["pack"]["name"] == "finance_hmda_example" and len(ins["pack"]["files"]["finance/pack.yaml"]) == 64
    tpl = ins["templates"]["finance/adverse_action_letter.html.j2"]
    assert {"base.html.j2", "finance/adverse_action_letter.html.j2"} <= set(tpl["files"])
    assert "finance/adverse_action_letter.es.html.j2" in ins["templates"]  # the pack offers Spanish too
    # the record names the template version it was rendered with, as in the manifest
    rec = json.loads(sorted(out.glob("letter_*.json"))[0].read_text())
    assert rec["document"]["template"]["sha256"] == tpl["sha256"]


def test_clean_run_verifies_and_signature_checks(two_runs):
    report = verify(two_runs["b"], key=KEY.encode())
    assert report.ok, str(report)
    text = str(report)
    assert "signature valid" in text and "exactly what its embedded record renders to" in text
    wrong = verify(two_runs["b"], key=b"another key that is long enough", rerender=False)
    assert not wrong.ok and "another key" in str(wrong)
    unsigned_with_key = verify(two_runs["a"], key=KEY.encode(), rerender=False)
    assert not unsigned_with_key.ok and "not signed" in str(unsigned_with_key)
    no_key = verify(two_runs["b"], rerender=False)
    assert no_key.ok and "signature not checked" in str(no_key)


def _copy(src, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)
    return dst


def _flip(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_verify_catches_each_kind_of_tampering(two_runs, tmp_path):
    src = two_runs["b"]
    key = KEY.encode()
    pdfs = sorted(p.name for p in src.glob("*.pdf"))
    out = _copy(src, tmp_path)
    # 1. one flipped byte inside the first PDF's page content
    _flip(out / pdfs[0], len((out / pdfs[0]).read_bytes()) // 3)
    # 2. an edited record (a reason rewritten in the JSON file)
    rec_path = out / pdfs[1].replace(".pdf", ".json")
    rec = json.loads(rec_path.read_text())
    rec["document"]["content"]["reasons"][0]["text"] = "Nothing to see here"
    rec_path.write_text(json.dumps(rec, sort_keys=True, indent=2, ensure_ascii=False) + "\n")
    # 3. a missing file and 4. an extra one
    (out / pdfs[2].replace(".pdf", ".html")).unlink()
    (out / "letter_FORGED.pdf").write_bytes((out / pdfs[3]).read_bytes())
    report = verify(out, key=key)
    fails = "\n".join(str(f) for f in report.failures)
    assert not report.ok
    assert f"{pdfs[0]}: modified" in fails
    # ...and the PDF itself no longer holds together (its record or its rendering), manifest or not
    assert fails.count(f"{pdfs[0]}: ") >= 2, fails
    assert f"{rec_path.name}: modified" in fails
    # the edited JSON is blamed, not the untouched PDF (and HTML) beside it
    assert f"{rec_path.name}: edited: differs from the record embedded in {pdfs[1]}" in fails
    assert f"{pdfs[1]}: " not in fails and f"{pdfs[1].replace('.pdf', '.html')}: " not in fails
    assert f"{pdfs[2].replace('.pdf', '.html')}: missing" in fails
    assert "letter_FORGED.pdf: extra file" in fails
    untouched = pdfs[3]
    assert untouched not in fails  # the others are not blamed
    # the CLI says so and exits 1
    res = run_cli("verify", out, "--key-file", two_runs["key_file"], "--quick", "--quiet")
    assert res.returncode == 1 and "TAMPERED" in res.stdout and "extra file" in res.stdout, res.stdout


def test_edited_manifest_breaks_the_signature(two_runs, tmp_path):
    out = _copy(two_runs["b"], tmp_path)
    pdf = sorted(out.glob("*.pdf"))[0]
    _flip(pdf, 2000)
    m = json.loads((out / "manifest.json").read_text())
    m["outputs"][pdf.name]["sha256"] = hashlib.sha256(pdf.read_bytes()).hexdigest()  # cover the tracks
    (out / "manifest.json").write_text(json.dumps(m, sort_keys=True, indent=2) + "\n")
    report = verify(out, key=KEY.encode())
    fails = "\n".join(map(str, report.failures))
    assert "the manifest was edited" in fails
    assert f"{pdf.name}: document does not match its embedded record" in fails  # caught without the manifest too


def test_single_pdf_without_manifest_catches_a_flipped_byte(two_runs, tmp_path):
    """Re-rendering from the embedded record catches a change anywhere, even with no manifest around."""
    src = sorted(two_runs["a"].glob("*.pdf"))[0]
    good = tmp_path / src.name
    good.write_bytes(src.read_bytes())
    report = verify(good)
    assert report.ok, str(report)
    assert "no manifest.json next to it" in str(report)
    data = good.read_bytes()
    caught = 0
    for offset in (len(data) // 5, len(data) // 2, len(data) - 300):
        bad = tmp_path / f"bad{offset}" / src.name
        bad.parent.mkdir()
        b = bytearray(data)
        b[offset] ^= 0x20
        bad.write_bytes(bytes(b))
        r = verify(bad)
        caught += not r.ok
        assert not r.ok, (offset, str(r))
    assert caught == 3


def test_edited_embedded_record_is_caught(two_runs, tmp_path):
    """Swap the embedded record for an edited one (with pikepdf): the record no longer matches the document."""
    import pikepdf

    src = sorted(two_runs["a"].glob("*.pdf"))[0]
    work = tmp_path / src.name
    with pikepdf.open(src) as doc:
        spec = doc.attachments["record.json"]
        rec = json.loads(spec.get_file().read_bytes())
        rec["prediction"]["p_deny"] = 0.01
        spec.obj.EF.F.write(json.dumps(rec).encode())
        doc.save(work)
    data, rel = embedded_record(work.read_bytes())
    assert json.loads(data)["prediction"]["p_deny"] == 0.01 and rel == "Data"
    report = verify(work)
    fails = "\n".join(map(str, report.failures))
    assert f"embedded record differs from {src.stem}.json" not in fails  # no sibling here
    assert "does not match its embedded record" in fails


def test_manifest_api_and_keys(tmp_path, monkeypatch):
    m = RunManifest("example", software={"x": "1"})
    m.add("a.txt", b"hello")
    m.add_input("data", b"id\n1\n", name="d.csv")
    path = m.write(tmp_path, key=b"k" * 16)
    got = json.loads(path.read_text())
    assert got["outputs"]["a.txt"]["sha256"] == hashlib.sha256(b"hello").hexdigest()
    assert got == sign(m.to_dict(), b"k" * 16)
    monkeypatch.delenv("XAI_REPORTS_SIGNING_KEY", raising=False)
    monkeypatch.delenv("XAI_REPORTS_SIGNING_KEY_FILE", raising=False)
    assert signing_key() is None
    monkeypatch.setenv("XAI_REPORTS_SIGNING_KEY", KEY)
    assert signing_key() == KEY.encode()
    monkeypatch.setenv("XAI_REPORTS_SIGNING_KEY", "short")
    with pytest.raises(IntegrityError, match="at least 16"):
        signing_key()
    with pytest.raises(IntegrityError, match="not set"):
        signing_key(key_env="NO_SUCH_VARIABLE_XR")
    with pytest.raises(IntegrityError, match="key file"):
        signing_key(key_file=tmp_path / "missing.key")


def test_regenerate_from_the_record_is_byte_identical(two_runs, tmp_path):
    """Reg B 1002.12(b): the letter can be regenerated exactly from its stored record."""
    from xai_reports import regenerate

    src = sorted(two_runs["a"].glob("letter_*.json"))[0]
    written = regenerate(src, tmp_path, formats=("pdf", "html"))
    for p in written:
        assert p.read_bytes() == (two_runs["a"] / p.name).read_bytes(), p.name
