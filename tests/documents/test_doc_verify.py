"""``xai-reports verify`` says what it saw: swapped files, unchecked signatures, summary counts, documents it
could not compare (and why), custom packs found from the record."""

from __future__ import annotations

import json
import shutil

import pytest

from _doc_helpers import run_cli
from xai_reports.integrity import verify

KEY = "a key of at least sixteen bytes 2026"


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def _unsigned_manifest_update(folder, changes: dict):
    """Edit an unsigned manifest the way someone covering their tracks would."""
    from xai_reports.integrity import sha256_file

    mpath = folder / "manifest.json"
    m = json.loads(mpath.read_text())
    for name, how in changes.items():
        if how is None:
            m["outputs"].pop(name, None)
        else:
            p = folder / name
            m["outputs"][name] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
    mpath.write_text(json.dumps(m))


def test_a_swapped_pdf_is_reported_as_swapped_and_its_html_is_not_blamed(letters_run, tmp_path):
    out = _copy(letters_run, tmp_path / "run")
    a, b = sorted(out.glob("letter_*.pdf"))[:2]
    a.write_bytes(b.read_bytes())               # letter A's PDF replaced by letter B's
    report = verify(out)
    fails = [str(f) for f in report.failures]
    assert f"FAIL  {a.name}: swapped: this file holds the bytes of {b.name} (SHA-256" in "\n".join(fails), fails
    assert any(f"{a.name}: swapped: this PDF is the document of decision" in f for f in fails), fails
    assert {f.subject for f in report.failures} == {a.name}, fails   # the HTML and JSON beside it are not blamed
    assert "HTML is exactly what its record renders to" in "\n".join(
        str(f) for f in report.findings if f.subject == a.with_suffix(".html").name)
    # the same swap, a lone PDF with no manifest next to it: the sibling JSON says whose it should be
    lone = tmp_path / "lone"
    lone.mkdir()
    for ext in ("pdf", "html", "json"):
        shutil.copy(out / f"{a.stem}.{ext}", lone / f"{a.stem}.{ext}")
    report = verify(lone / a.name)
    fails = [str(f) for f in report.failures]
    assert len(fails) == 1 and "swapped: this PDF is the document of decision" in fails[0], str(report)
    assert "HTML is exactly what its record renders to" in str(report)


def test_a_signed_manifest_checked_without_a_key_says_so_plainly(hmda_case, tmp_path):
    from xai_reports import generate_letters

    out = tmp_path / "signed"
    generate_letters(hmda_case["model"], hmda_case["apps"], "finance_hmda_example", out, reference=hmda_case["reference"],
                     formats=("pdf", "json"), key=KEY.encode(), workers=0)
    assert json.loads((out / "manifest.json").read_text())["signature"]["algorithm"] == "HMAC-SHA256"
    report = verify(out, rerender=False)
    assert report.ok and report.signature_checked is False
    res = run_cli("verify", out, "--quick", "--quiet")
    assert res.returncode == 0, res.stdout
    assert "signature was NOT checked (no key given" in res.stdout.splitlines()[-1], res.stdout
    keyed = run_cli("verify", out, "--quick", "--quiet", env={"XAI_REPORTS_SIGNING_KEY": KEY})
    assert keyed.returncode == 0 and "NOT checked" not in keyed.stdout, keyed.stdout
    assert verify(out, key=KEY.encode(), rerender=False).signature_checked is True


def test_summary_counts_are_checked_against_the_files(letters_run, tmp_path):
    out = _copy(letters_run, tmp_path / "run")
    assert "summary.json: counts match the files present" in str(verify(out, rerender=False))
    # a letter removed, and removed from the (unsigned) manifest too: only summary.json can tell
    gone = sorted(out.glob("letter_*.pdf"))[0].stem
    for ext in ("pdf", "html", "json"):
        (out / f"{gone}.{ext}").unlink()
    _unsigned_manifest_update(out, {f"{gone}.{ext}": None for ext in ("pdf", "html", "json")})
    report = verify(out, rerender=False)
    summary = json.loads((out / "summary.json").read_text())
    assert [str(f) for f in report.failures] == [
        f"FAIL  summary.json: counts do not match the files present: letters_written is "
        f"{summary['letters_written']}, but the folder holds {summary['letters_written'] - 1} letters"]
    # an edited count (manifest hash updated to match): caught the same way
    out2 = _copy(letters_run, tmp_path / "run2")
    summary["letters_written"] += 5
    (out2 / "summary.json").write_text(json.dumps(summary))
    _unsigned_manifest_update(out2, {"summary.json": True})
    assert "letters_written is" in "\n".join(map(str, verify(out2, rerender=False).failures))


def _custom_pack(tmp_path):
    """A custom finance pack (other institution name) in its own folder."""
    import yaml

    from xai_reports._resources import domains_dir

    folder = tmp_path / "acme_pack"
    folder.mkdir()
    raw = yaml.safe_load((domains_dir() / "finance_hmda_example" / "pack.yaml").read_text())   # extends: finance
    raw["name"] = "acme_lending"
    raw["letter"]["institution"]["name"] = "ACME Lending Cooperative"
    (folder / "pack.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return folder


def test_a_custom_pack_is_found_from_the_record_or_named_exactly(hmda_case, tmp_path):
    from xai_reports import generate_letters

    pack_dir = _custom_pack(tmp_path)
    out = tmp_path / "acme"
    generate_letters(hmda_case["model"], hmda_case["apps"], pack_dir, out, reference=hmda_case["reference"],
                     formats=("pdf", "html", "json"), workers=0)
    record = json.loads(sorted(out.glob("letter_*.json"))[0].read_text())
    assert record["pack"]["ref"] == str((pack_dir / "pack.yaml").resolve())
    assert "ACME Lending Cooperative" in sorted(out.glob("letter_*.html"))[0].read_text()
    report = verify(out)   # no --pack: found at its recorded path, hash checked
    assert report.ok and not report.not_compared, str(report)

    moved = tmp_path / "moved_pack"
    pack_dir.rename(moved)
    report = verify(out)
    assert report.ok and len(report.not_compared) == len(list(out.glob("*.pdf"))), str(report)
    msg = report.not_compared[0].message
    assert "cannot find pack 'acme_lending'" in msg and "pass --pack" in msg and str(pack_dir) in msg, msg
    res = run_cli("verify", out)
    assert res.returncode == 2 and "NOT VERIFIED" in res.stdout and "letter_" in res.stdout, res.stdout
    assert "verified:" not in res.stdout
    assert run_cli("verify", out, "--quick").returncode == 0
    assert run_cli("verify", out, "--pack", moved).returncode == 0
    # another pack passed by mistake: named, not compared
    wrong = verify(out, pack="finance")
    assert wrong.ok and "the document was written with pack 'acme_lending'" in wrong.not_compared[0].message
    # regenerate: the same, and byte-identical with the right --pack
    rec = sorted(out.glob("letter_*.json"))[0]
    res = run_cli("regenerate", rec, "--out", tmp_path / "regen")
    assert res.returncode == 2 and "pass --pack" in res.stderr and "Traceback" not in res.stderr, res.stderr
    res = run_cli("regenerate", rec, "--out", tmp_path / "regen", "--pack", moved)
    assert res.returncode == 0, res.stderr
    for p in (tmp_path / "regen").iterdir():
        assert p.read_bytes() == (out / p.name).read_bytes(), p.name


def test_a_pdf_outside_any_run_and_a_tree_of_runs(letters_run, tmp_path):
    root = tmp_path / "tree"
    _copy(letters_run, root / "letters")
    report = verify(root, rerender=False)
    assert report.ok and any(f.subject.startswith("letters/") for f in report.findings), str(report)
    shutil.copy(sorted(letters_run.glob("*.pdf"))[0], root / "stray.pdf")
    assert "stray.pdf: not in any run folder with a manifest" in str(verify(root, rerender=False))


def test_summary_check_counts_documents_and_flagged_records_per_format(tmp_path):
    """Flagged decisions have a JSON record only (none without the json format): counted as such."""
    from xai_reports.integrity import VerifyReport
    from xai_reports.integrity.verify import _check_summary

    def run(files: dict, summary: dict):
        d = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
        d.mkdir()
        for name, text in {**files, "summary.json": json.dumps(summary)}.items():
            (d / name).write_text(text)
        report = VerifyReport()
        _check_summary(report, d, "adverse_action_letters", {p.name: p for p in d.iterdir()})
        return [str(f) for f in report.findings]

    doc = json.dumps({"document": {"kind": "adverse_action_letter"}})
    flagged = json.dumps({"document": None})
    ok = run({"letter_A.pdf": "", "letter_A.json": doc, "letter_F.json": flagged},
             {"letters_written": 1, "flagged_for_review": [{"id": "F"}]})
    assert ok == ["ok    summary.json: counts match the files present (1 letters)"]
    pdf_only = run({"letter_A.pdf": ""}, {"letters_written": 1, "flagged_for_review": [{"id": "F"}]})
    assert pdf_only[0].startswith("ok")
    wrong = run({"letter_A.pdf": "", "letter_A.json": doc}, {"letters_written": 1, "flagged_for_review": [{"id": "F"}]})
    assert "flagged_for_review lists 1, but the folder holds 0 flagged records" in wrong[0]
