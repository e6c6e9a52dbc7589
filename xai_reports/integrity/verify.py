"""Tamper checks: a run folder or a PDF against its manifest, its embedded record, and the
document its record renders to now.

Documents are re-rendered through the kind registry: the record's
``document.kind`` (or its ``schema``) names a registered
:class:`~xai_reports.documents.base.DocumentKind`, whose ``rerender`` function
gives the files the record renders to; rendering is deterministic, so a single
changed byte shows. A kind without one is reported as not compared.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..documents.base import kind_of_record, registered_kinds
from ..errors import InputError, XaiReportsError
from ..io.outputs import sha256_file
from ..render.mock import is_mock_pdf
from .manifest import (MANIFEST_NAME, MANIFEST_SCHEMA, RECORD_NAME, STEM_MANIFEST_SUFFIX, _unsigned_bytes, key_id,
                       sha256_bytes)

__all__ = ["verify", "VerifyReport", "Finding", "embedded_record"]

@dataclass
class Finding:
    """One verification result: ``status`` is ``"ok"``, ``"warn"``, ``"skip"`` (not compared) or ``"FAIL"``."""

    status: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.status:4}  {self.subject}: {self.message}"


@dataclass
class VerifyReport:
    """All findings of a verification; ``ok`` when nothing failed."""

    findings: list[Finding] = field(default_factory=list)
    #: ``True``: a signature was checked; ``False``: a signed manifest was NOT checked (no key); ``None``: unsigned
    signature_checked: bool | None = None

    def add(self, status, subject, message):
        self.findings.append(Finding(status, str(subject), message))

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "FAIL"]

    @property
    def ok(self) -> bool:
        """Nothing failed (documents not compared are listed in :attr:`not_compared`)."""
        return not self.failures

    @property
    def not_compared(self) -> list[Finding]:
        """Documents that could not be re-rendered and compared (pack, templates or software missing)."""
        return [f for f in self.findings if f.status == "skip"]

    def __str__(self) -> str:
        return "\n".join(map(str, self.findings))


def embedded_record(pdf_bytes: bytes, name: str | None = None) -> tuple[bytes | None, str | None]:
    """The embedded JSON record and its ``/AFRelationship`` (``(None, None)`` when absent).

    Args:
        pdf_bytes: the PDF.
        name: the attachment's file name; default ``record.json``, else the first
            ``.json`` attachment with relationship ``Data`` (e.g. ``audit_record.json``).

    Raises:
        ValueError: the bytes are not a readable PDF.
    """
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf_bytes), strict=False)
    root = reader.trailer["/Root"]
    names = root.get("/Names")
    tree = names.get_object().get("/EmbeddedFiles") if names is not None else None
    if tree is None:
        return None, None
    found: dict[str, tuple[bytes, str | None]] = {}
    stack = [tree.get_object()]
    while stack:
        node = stack.pop()
        kids = node.get("/Kids")
        if kids is not None:
            stack.extend(k.get_object() for k in kids)
        arr = node.get("/Names") or []
        for i in range(0, len(arr) - 1, 2):
            spec = arr[i + 1].get_object()
            fname = str(spec.get("/UF") or spec.get("/F") or arr[i])
            rel = spec.get("/AFRelationship")
            found[fname] = (spec["/EF"]["/F"].get_object().get_data(),
                            str(rel).lstrip("/") if rel is not None else None)
    if name is not None:
        return found.get(name, (None, None))
    if RECORD_NAME in found:
        return found[RECORD_NAME]
    for fname in sorted(found):
        if fname.lower().endswith(".json") and found[fname][1] == "Data":
            return found[fname]
    return None, None


def _pdf_text(pdf_bytes: bytes) -> str:
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR + 10)
    reader = PdfReader(io.BytesIO(pdf_bytes), strict=False)
    return " ".join(" ".join((p.extract_text() or "").split()) for p in reader.pages)


def _record_identity(record) -> str | None:
    """Which decision / case / report a record is about (to tell a swapped file from an edited one)."""
    if not isinstance(record, dict):
        return None
    for key in ("decision_id", "case_id", "report_id"):
        if record.get(key) is not None:
            return f"{key.split('_')[0]} {record[key]}"
    doc = record.get("document") if isinstance(record.get("document"), dict) else {}
    content = doc.get("content") if isinstance(doc.get("content"), dict) else {}
    for key in ("incident_id", "report_id", "id"):
        if content.get(key) is not None:
            return f"{key.split('_')[0]} {content[key]}"
    return None


def _record_kind_label(record) -> str | None:
    """What a record says it is (its ``document.kind``, else its ``schema``), for messages."""
    if not isinstance(record, dict):
        return None
    doc = record.get("document")
    if isinstance(doc, dict) and doc.get("kind"):
        return doc["kind"]
    return record.get("schema")


def _read_json(path: Path):
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def _subsetter_note(recorded: str | None) -> str:
    from ..render.pdf import font_subsetter

    now = font_subsetter()
    if recorded and recorded != now:
        return f"; this re-render used {now}, the record names {recorded}"
    if not recorded:
        return f"; the record does not name its font subsetter, this re-render used {now}"
    return ""


def _check_pdf(report: VerifyReport, path: Path, data: bytes, *, sibling_json: Path | None, rerender: bool,
               pack=None, templates=None, sibling_html: Path | None = None, pdf_intact: bool | None = None,
               json_intact: bool | None = None, html_intact: bool | None = None) -> None:
    """Check one PDF: its embedded record, its sibling JSON and HTML, and (``rerender``) its bytes.

    ``pdf_intact`` / ``json_intact`` / ``html_intact``: whether the manifest's hash matched
    (``None``: no manifest), so a swapped or edited file is blamed, not its untouched neighbours.
    """
    label = path.name
    try:
        record_bytes, rel = embedded_record(data)
    except Exception as exc:  # noqa: BLE001 - a damaged PDF can fail in many ways
        report.add("FAIL", label, f"not a readable PDF ({type(exc).__name__}: {str(exc)[:100]})")
        return
    if record_bytes is None:
        report.add("FAIL", label, "no embedded JSON record (record.json, relationship Data)")
        return
    if rel != "Data":
        report.add("FAIL", label, f"embedded {RECORD_NAME} has relationship {rel!r}, expected 'Data'")
    try:
        record = json.loads(record_bytes)
    except ValueError:
        report.add("FAIL", label, "embedded record is not valid JSON")
        return
    report.add("ok", label, "embedded JSON record present (relationship Data)")
    if is_mock_pdf(data) or _software_of(record).get("renderer"):
        report.add("FAIL", label, f"made by the {_software_of(record).get('renderer', 'mock')} renderer, not a real "
                                  "document (a test stand-in: only WeasyPrint's PDFs are documents)")
        return
    sibling_record = None
    if sibling_json is not None and sibling_json.is_file():
        sib_bytes = sibling_json.read_bytes()
        try:
            sibling_record = json.loads(sib_bytes)
        except ValueError:
            sibling_record = None
        if sib_bytes == record_bytes:
            report.add("ok", label, f"embedded record identical to {sibling_json.name}")
        else:
            who, whose = _record_identity(record), _record_identity(sibling_record)
            if who and whose and who != whose:
                report.add("FAIL", label, f"swapped: this PDF is the document of {who}, but {sibling_json.name} "
                                          f"(and the file name) are for {whose}")
            elif pdf_intact and json_intact is False:
                report.add("FAIL", sibling_json.name, f"edited: differs from the record embedded in {label} "
                                                      "(the PDF is as written)")
            elif json_intact and pdf_intact is False:
                report.add("FAIL", label, f"embedded record differs from {sibling_json.name} (the JSON is as "
                                          "written: the PDF was altered)")
            else:
                report.add("FAIL", label, f"embedded record differs from {sibling_json.name} (one of them was edited)")
    kind = kind_of_record(record)
    if not rerender:
        return
    # The HTML belongs with an intact record: the sibling JSON unless it was altered, or the PDF's.
    html_records = []
    if sibling_html is not None and sibling_html.is_file():
        if sibling_record is not None and json_intact is not False:
            html_records.append(sibling_record)
        if pdf_intact is not False and record != sibling_record:
            html_records.append(record)
    if kind is None or kind.rerender is None:
        what = _record_kind_label(record) or "unknown"
        report.add("skip", label, f"not compared: no renderer for document kind {what!r} "
                                  "(only its record and hashes were checked)")
        return
    recorded = _software_of(record).get("weasyprint")
    import weasyprint

    if recorded and recorded != weasyprint.__version__:
        report.add("skip", label, f"not compared: the record was rendered with WeasyPrint {recorded}, this is "
                                  f"{weasyprint.__version__} (install that version to compare bytes)")
        return
    render = kind.rerenderer()
    try:
        files = render(record, pack=pack, templates=templates, formats=("pdf",))
        html_files = [render(r, pack=pack, templates=templates, formats=("html",))["html"] for r in html_records]
    except XaiReportsError as exc:
        report.add("skip", label, f"not compared: cannot re-render from the record ({exc})")
        return
    if html_records:
        if sibling_html.read_bytes() in html_files:
            report.add("ok", sibling_html.name, "HTML is exactly what its record renders to")
        elif html_intact is not True:
            report.add("FAIL", sibling_html.name, "HTML does not match its record: altered after it was written")
        else:
            report.add("skip", sibling_html.name, "not compared: the HTML is as written (its SHA-256 matches the "
                                                  "manifest) but renders differently here")
    expected = files["pdf"]
    if expected == data:
        report.add("ok", label, "document is exactly what its embedded record renders to")
        return
    # Say what differs, in words people can act on.
    try:
        text, want = _pdf_text(data), _pdf_text(expected)
        same_text = text == want
    except Exception:  # noqa: BLE001
        same_text = None
    recorded_sub = _software_of(record).get("font_subsetter")
    from ..render.pdf import font_subsetter

    if same_text and pdf_intact is not False and recorded_sub != font_subsetter():
        report.add("skip", label, "not compared: visible text identical, bytes differ" + _subsetter_note(recorded_sub)
                   + " (font subsets differ between subsetters and their versions)")
        return
    detail = ("the file does not parse" if same_text is None else
              "visible text differs" if not same_text else "visible text identical, bytes differ")
    report.add("FAIL", label, f"document does not match its embedded record ({detail}): "
                              "the PDF was altered after it was written" + _subsetter_note(recorded_sub))


def _software_of(record) -> dict:
    from ..render.records import recorded_software

    return recorded_software(record)


def _summary_kind(manifest_kind: str | None):
    """The registered batch kind whose runs write manifests of ``manifest_kind`` (with a summary to check)."""
    for kind in registered_kinds():
        if manifest_kind and kind.manifest_kind == manifest_kind and kind.summary_field and kind.file_prefix:
            return kind
    return None


def _check_summary(report: VerifyReport, folder: Path, kind: str | None, present: dict) -> None:
    """``summary.json``'s counts against the files present (those of the run: extra files are reported
    as such, not counted)."""
    p = present.get("summary.json")
    doc_kind = _summary_kind(kind)
    if p is None or doc_kind is None:
        return
    summary = _read_json(p)
    if not isinstance(summary, dict):
        report.add("FAIL", "summary.json", "not valid JSON")
        return
    field_, prefix, what = doc_kind.summary_field, doc_kind.file_prefix, doc_kind.plural
    stems: dict[str, set] = {}
    for name, path in present.items():
        if "/" not in name and name.startswith(prefix) and path.suffix in (".pdf", ".html", ".json"):
            stems.setdefault(path.stem, set()).add(path.suffix)
    flagged = 0
    documents = 0
    for stem, suffixes in stems.items():
        if suffixes == {".json"}:
            rec = _read_json(folder / f"{stem}.json")
            if isinstance(rec, dict) and "document" in rec and rec.get("document") is None:
                flagged += 1
                continue
        documents += 1
    problems = []
    claimed = summary.get(field_)
    if claimed != documents:
        problems.append(f"{field_} is {claimed}, but the folder holds {documents} {what}")
    if "flagged_for_review" in summary and any(".json" in s for s in stems.values()):
        # flagged decisions (letters) get a JSON record only (nothing at all without the json format)
        listed = summary.get("flagged_for_review")
        n_flagged = len(listed) if isinstance(listed, list) else listed
        if n_flagged != flagged:
            problems.append(f"flagged_for_review lists {n_flagged}, but the folder holds {flagged} flagged records")
    if problems:
        report.add("FAIL", "summary.json", "counts do not match the files present: " + "; ".join(problems))
    else:
        report.add("ok", "summary.json", f"counts match the files present ({documents} {what})")


def _load_manifest(report: VerifyReport, path: Path, key: bytes | None) -> dict | None:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        report.add("FAIL", path.name, f"cannot read manifest ({exc})")
        return None
    if not isinstance(manifest, dict) or manifest.get("schema") != MANIFEST_SCHEMA:
        report.add("FAIL", path.name, f"not an xai-reports manifest (schema {MANIFEST_SCHEMA})")
        return None
    sig = manifest.get("signature")
    if sig or key is not None:
        checked = key is not None and bool(sig)
        report.signature_checked = checked if report.signature_checked is None else (report.signature_checked and checked)
    if key is not None:
        if not sig:
            report.add("FAIL", path.name, "manifest is not signed, but a key was given")
        else:
            good = hmac.new(key, _unsigned_bytes(manifest), hashlib.sha256).hexdigest()
            if hmac.compare_digest(good, str(sig.get("value", ""))):
                report.add("ok", path.name, f"HMAC-SHA256 signature valid (key {sig.get('key_id')})")
            elif sig.get("key_id") != key_id(key):
                report.add("FAIL", path.name, f"signature made with another key ({sig.get('key_id')}, "
                                              f"given {key_id(key)})")
            else:
                report.add("FAIL", path.name, "signature does not match: the manifest was edited")
    elif sig:
        report.add("warn", path.name, "manifest is signed, but no key was given: signature not checked "
                                      "(pass --key-file or --key-env to check it)")
    else:
        report.add("warn", path.name, "manifest is not signed")
    return manifest


def _check_entry(report, name, data: bytes, entry: dict):
    got = sha256_bytes(data)
    if got != entry.get("sha256"):
        report.add("FAIL", name, f"modified: SHA-256 {got[:16]}... but the manifest says "
                                 f"{str(entry.get('sha256'))[:16]}... ({len(data)} bytes, manifest {entry.get('bytes')})")
        return False
    report.add("ok", name, "SHA-256 matches the manifest")
    return True


def _manifests_in(folder: Path, manifest) -> list[Path]:
    if manifest:
        return [Path(manifest)]
    found = [folder / MANIFEST_NAME] if (folder / MANIFEST_NAME).is_file() else []
    return found + sorted(p for p in folder.glob("*" + STEM_MANIFEST_SUFFIX) if p.is_file())


def _verify_tree(root: Path, runs: list[Path], **kw) -> VerifyReport:
    """A folder of run folders (the demo's): each run verified; a PDF outside every run is reported."""
    report = VerifyReport()
    for run in runs:
        sub = verify(run, **kw)
        rel = run.relative_to(root).as_posix()
        for f in sub.findings:
            subject = f.subject if f.subject.startswith("/") else f"{rel}/{f.subject}"
            report.add(f.status, subject, f.message)
        if sub.signature_checked is not None:
            report.signature_checked = sub.signature_checked and report.signature_checked is not False
    for pdf in sorted(root.rglob("*.pdf")):
        if not any(run == pdf.parent or run in pdf.parents for run in runs):
            report.add("FAIL", pdf.relative_to(root).as_posix(), "not in any run folder with a manifest")
    return report


def verify(path, *, manifest=None, key: bytes | None = None, rerender: bool = True, pack=None,
           templates=None) -> VerifyReport:
    """Check a run folder or one PDF for tampering.

    Args:
        path: an output folder (with ``manifest.json`` and/or ``<stem>.manifest.json``
            files), a folder of such folders (each verified; e.g. the demo's), or a PDF file.
        manifest: manifest path (default: ``manifest.json`` and every ``*.manifest.json``
            in the folder; for a PDF, ``<stem>.manifest.json`` or ``manifest.json`` next to it).
        key: HMAC key bytes (see :func:`signing_key`); checks the signature when given.
        rerender: re-render each PDF from its embedded record and compare bytes.
        pack, templates: pack and user template folders used at generation,
            when not the ones the record names (for the re-render).

    Returns:
        A :class:`VerifyReport`; ``report.ok`` is False when anything was
        tampered with: a changed byte in any file, an edited record, a swapped,
        missing or extra file, a bad signature, ``summary.json`` counts that do
        not match the files. ``report.not_compared`` lists the documents that
        could not be re-rendered (pack, templates or software not found here).

    Examples::

        >>> report = verify("letters/")          # doctest: +SKIP
        >>> print(report); report.ok             # doctest: +SKIP
    """
    path = Path(path)
    report = VerifyReport()
    if not path.exists():
        raise InputError("nothing to verify: path not found", file=path)
    if path.is_dir():
        mpaths = _manifests_in(path, manifest)
        if not mpaths and manifest is None:
            runs = sorted({m.parent for m in path.rglob("*" + MANIFEST_NAME)
                           if m.name == MANIFEST_NAME or m.name.endswith(STEM_MANIFEST_SUFFIX)})
            if runs:
                return _verify_tree(path, runs, key=key, rerender=rerender, pack=pack, templates=templates)
        if not mpaths or not mpaths[0].is_file():
            report.add("FAIL", path, f"no {MANIFEST_NAME}: cannot tell which files belong to the run")
            for p in sorted(path.rglob("*.pdf")):
                _check_pdf(report, p, p.read_bytes(), sibling_json=p.with_suffix(".json"), rerender=rerender,
                           pack=pack, templates=templates, sibling_html=p.with_suffix(".html"))
            return report
        listed: dict[str, dict] = {}
        kinds = set()
        for mpath in mpaths:
            m = _load_manifest(report, mpath, key)
            if m is None:
                return report
            kinds.add(m.get("kind"))
            for name, entry in (m.get("outputs") or {}).items():
                listed[name] = entry
        from ..batch.journal import is_state_file  # the batch engine's resume journal: not an output

        skip = {p.resolve() for p in mpaths}
        run_folder = mpaths[0].name == MANIFEST_NAME or manifest is not None
        present = {p.relative_to(path).as_posix(): p for p in sorted(path.rglob("*") if run_folder else path.iterdir())
                   if p.is_file() and p.resolve() not in skip and not is_state_file(p.relative_to(path).as_posix())}
        if not run_folder:
            # only single-document manifests (<stem>.manifest.json): a folder that also holds the inputs
            # (models, clips). Their documents must be listed; other files are not outputs of a run.
            stems = {m.name[: -len(STEM_MANIFEST_SUFFIX)] for m in mpaths}
            others = sorted(n for n, p in present.items() if n not in listed and p.stem not in stems
                            and p.suffix.lower() not in (".pdf", ".html", ".htm"))
            for n in others:
                del present[n]
            if others:
                report.add("warn", path, f"{len(others)} file(s) not covered by a manifest, not checked "
                                         f"(inputs, not documents): {', '.join(others[:5])}{' ...' if len(others) > 5 else ''}")
        by_hash: dict[str, str] = {}
        for name, entry in listed.items():
            by_hash.setdefault(str(entry.get("sha256")), name)
        for name in sorted(set(listed) - set(present)):
            report.add("FAIL", name, "missing: listed in the manifest, not in the folder")
        for name in sorted(set(present) - set(listed)):
            report.add("FAIL", name, "extra file: not written by this run (not in the manifest)")
        intact: dict[str, bool] = {}
        for name in sorted(set(listed) & set(present)):
            data = present[name].read_bytes()
            got = sha256_bytes(data)
            other = by_hash.get(got)
            if got != listed[name].get("sha256") and other is not None and other != name:
                report.add("FAIL", name, f"swapped: this file holds the bytes of {other} (SHA-256 {got[:16]}...)")
                intact[name] = False
            else:
                intact[name] = _check_entry(report, name, data, listed[name])
        for name in sorted(set(listed) & set(present)):
            if not name.lower().endswith(".pdf"):
                continue
            p = present[name]
            sib, html = p.with_suffix(".json"), p.with_suffix(".html")
            sib_name, html_name = sib.relative_to(path).as_posix(), html.relative_to(path).as_posix()
            _check_pdf(report, p, p.read_bytes(), sibling_json=sib if sib_name in listed else None,
                       rerender=rerender, pack=pack, templates=templates,
                       sibling_html=html if html_name in listed else None, pdf_intact=intact.get(name),
                       json_intact=intact.get(sib_name), html_intact=intact.get(html_name))
        for kind in sorted(k for k in kinds if k):
            _check_summary(report, path, kind, {n: p for n, p in present.items() if n in listed})
        return report
    data = path.read_bytes()
    candidates = [Path(manifest)] if manifest else [path.with_name(path.stem + STEM_MANIFEST_SUFFIX),
                                                    path.parent / MANIFEST_NAME]
    entries: dict[str, dict] = {}
    mpath = next((c for c in candidates if c.is_file()), None)
    pdf_intact = json_intact = html_intact = None
    if mpath is not None:
        m = _load_manifest(report, mpath, key)
        if m is not None:
            entries = m.get("outputs") or {}
            entry = entries.get(path.name)
            if entry is None:
                report.add("FAIL", path.name, f"not listed in {mpath.name}")
            else:
                pdf_intact = _check_entry(report, path.name, data, entry)
            for suffix in (".json", ".html"):
                sib = path.with_suffix(suffix)
                if sib.name in entries and sib.is_file():
                    ok = sha256_file(sib) == entries[sib.name].get("sha256")
                    if suffix == ".json":
                        json_intact = ok
                    else:
                        html_intact = ok
                    if not ok:
                        report.add("FAIL", sib.name, "modified: SHA-256 differs from the manifest")
    else:
        report.add("warn", path.name, f"no {MANIFEST_NAME} next to it: file hashes not checked")
    _check_pdf(report, path, data, sibling_json=path.with_suffix(".json"), rerender=rerender, pack=pack,
               templates=templates, sibling_html=path.with_suffix(".html"), pdf_intact=pdf_intact,
               json_intact=json_intact, html_intact=html_intact)
    return report
