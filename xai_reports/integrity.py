"""Run manifests, HMAC signatures and tamper checks for the documents a run writes.

A run (a batch of letters, an audit report, ...) writes ``manifest.json`` next
to its outputs: the SHA-256 and size of every output file, and of what went in
(data, reference data, model, pack files, templates), optionally signed with
HMAC-SHA256. :func:`verify` (``xai-reports verify PATH``) checks a folder or a
single PDF against it, and checks each PDF against its embedded JSON record by
re-rendering the document from the record (rendering is deterministic, so a
single changed byte shows).

Batch code uses a small API::

    manifest = RunManifest("adverse_action_letters", software=software_versions())
    manifest.add_input("data", "applications.csv")
    manifest.add_pack(pack)
    manifest.add_template(fingerprint)
    manifest.add("letter_A1.pdf", pdf_bytes)       # for each output written
    manifest.write(out_dir, key=signing_key())      # -> out_dir/manifest.json

Keys: ``signing_key()`` reads ``$XAI_REPORTS_SIGNING_KEY`` (the key itself) or
``$XAI_REPORTS_SIGNING_KEY_FILE`` (a file holding it), or the ``key_file`` /
``key_env`` you name. A key is at least 16 bytes; never store it next to the
outputs.

Examples::

    >>> m = RunManifest("example")
    >>> m.add("a.txt", b"hello")
    >>> m.to_dict()["outputs"]["a.txt"]["sha256"][:12]
    '2cf24dba5fb0'
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError, XaiReportsError
from .outputs import atomic_write, canonical_json, inside, sha256_file

__all__ = ["RunManifest", "signing_key", "sign", "verify", "VerifyReport", "Finding", "MANIFEST_NAME",
           "MANIFEST_SCHEMA", "register_renderer", "embedded_record", "sha256_bytes", "sha256_file"]

MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA = "xai-reports/manifest/1"
RECORD_NAME = "record.json"
KEY_ENV = "XAI_REPORTS_SIGNING_KEY"
KEY_FILE_ENV = "XAI_REPORTS_SIGNING_KEY_FILE"
MIN_KEY_BYTES = 16


class IntegrityError(XaiReportsError):
    """A signing key or manifest that cannot be used (not a tampering finding: those are reported)."""


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------------------ keys
def signing_key(*, key_file=None, key_env: str | None = None, required: bool = False) -> bytes | None:
    """The HMAC key: from ``key_file``, else the variable ``key_env``, else the defaults.

    Args:
        key_file: a file holding the key (trailing newline stripped).
        key_env: the name of an environment variable holding the key.
        required: raise when no key is configured.

    Returns:
        The key bytes, or ``None`` when none is configured (and not required).
        Defaults: ``$XAI_REPORTS_SIGNING_KEY``, then ``$XAI_REPORTS_SIGNING_KEY_FILE``.

    Raises:
        IntegrityError: a named file or variable that is missing, or a key
            shorter than 16 bytes.

    Examples::

        >>> import os; os.environ["MY_KEY"] = "0123456789abcdef-secret"
        >>> len(signing_key(key_env="MY_KEY"))
        23
    """
    source = None
    if key_file is not None:
        try:
            key = Path(key_file).read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise IntegrityError(f"signing key file '{key_file}': {exc.strerror}") from None
        source = f"file {key_file}"
    elif key_env is not None:
        if key_env not in os.environ:
            raise IntegrityError(f"environment variable {key_env} (signing key) is not set")
        key = os.environ[key_env].encode("utf-8")
        source = f"${key_env}"
    elif os.environ.get(KEY_ENV):
        key = os.environ[KEY_ENV].encode("utf-8")
        source = f"${KEY_ENV}"
    elif os.environ.get(KEY_FILE_ENV):
        return signing_key(key_file=os.environ[KEY_FILE_ENV])
    else:
        if required:
            raise IntegrityError(f"no signing key: set {KEY_ENV} or {KEY_FILE_ENV}, or pass a key file")
        return None
    if len(key) < MIN_KEY_BYTES:
        raise IntegrityError(f"signing key from {source} is {len(key)} bytes; use at least {MIN_KEY_BYTES}")
    return key


def key_id(key: bytes) -> str:
    """A public fingerprint of a key (so a verifier can tell 'wrong key' from 'edited manifest')."""
    return "sha256:" + hashlib.sha256(b"xai-reports key id\x00" + key).hexdigest()[:16]


def _unsigned_bytes(manifest: dict) -> bytes:
    return canonical_json({k: v for k, v in manifest.items() if k != "signature"}).encode("utf-8")


def sign(manifest: dict, key: bytes) -> dict:
    """The manifest with a ``signature`` (HMAC-SHA256 over its canonical JSON without the signature)."""
    mac = hmac.new(key, _unsigned_bytes(manifest), hashlib.sha256).hexdigest()
    return {**manifest, "signature": {"algorithm": "HMAC-SHA256", "key_id": key_id(key), "value": mac}}


# ------------------------------------------------------------------------------------------ manifest
class RunManifest:
    """What a run read and wrote, with hashes. Outputs are added as they are written.

    Args:
        kind: what the run produced (``"adverse_action_letters"``, ``"audit_report"``...).
        software: versions of the software that produced the outputs.

    Examples::

        >>> m = RunManifest("letters")
        >>> m.add_input("data", b"id,x\\n1,2\\n", name="applications.csv")
        >>> m.add("letter_1.json", b"{}")
        >>> sorted(m.to_dict())
        ['inputs', 'kind', 'outputs', 'schema', 'software']
    """

    def __init__(self, kind: str, *, software: dict | None = None):
        self.kind = kind
        self.software = dict(software or {})
        self.inputs: dict[str, object] = {}
        self.outputs: dict[str, dict] = {}

    def add(self, name: str, data: bytes) -> None:
        """Record an output file ``name`` (relative to the output folder) with its bytes."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.outputs[str(name)] = {"sha256": sha256_bytes(data), "bytes": len(data)}

    def add_input(self, role: str, source, *, name: str | None = None) -> None:
        """Record an input: a file path, bytes, or a pandas DataFrame (hashed as canonical CSV).

        Args:
            role: ``"data"``, ``"reference"``, ``"model"``, ...
            source: path, bytes or DataFrame; ``None`` is ignored.
            name: label for bytes/DataFrames (default: the file name).
        """
        if source is None:
            return
        if isinstance(source, (str, Path)):
            p = Path(source)
            self.inputs[role] = {"name": name or p.name, "sha256": sha256_file(p), "bytes": p.stat().st_size}
            return
        if isinstance(source, (bytes, bytearray)):
            self.inputs[role] = {"name": name or role, "sha256": sha256_bytes(bytes(source)), "bytes": len(source)}
            return
        to_csv = getattr(source, "to_csv", None)
        if to_csv is not None:
            data = to_csv(index=False, lineterminator="\n").encode("utf-8")
            self.inputs[role] = {"name": name or "<DataFrame>", "sha256": sha256_bytes(data),
                                 "rows": int(len(source)), "hashed_as": "csv"}
            return
        raise TypeError(f"cannot hash input {role!r} of type {type(source).__name__}")

    def add_model(self, adapter, *, path=None, name: str | None = None) -> None:
        """Record the model: its file's SHA-256 when loaded from a file, else the adapter's hash."""
        if path is not None:
            self.add_input("model", path, name=name)
        else:
            self.inputs["model"] = {"name": name or type(adapter.model).__name__, "sha256": adapter.sha256}

    def add_pack(self, pack) -> None:
        """Record the pack: merged-content hash, version, and the SHA-256 of each YAML file of its chain."""
        self.inputs["pack"] = {
            "name": pack.spec.name, "version": pack.spec.version, "sha256": pack.sha256,
            "files": {f"{Path(f).parent.name}/{Path(f).name}": sha256_file(f) for f in pack.files},
        }

    def add_template(self, fingerprint: dict) -> None:
        """Record a template fingerprint (``render.template_fingerprint``): the template and all it extends."""
        self.inputs.setdefault("templates", {})[fingerprint["name"]] = {
            "sha256": fingerprint["sha256"], "files": fingerprint["files"]}

    def to_dict(self) -> dict:
        """The manifest content (unsigned)."""
        return {"schema": MANIFEST_SCHEMA, "kind": self.kind, "software": self.software,
                "inputs": self.inputs, "outputs": dict(sorted(self.outputs.items()))}

    def write(self, out_dir, *, key: bytes | None = None) -> Path:
        """Write ``out_dir/manifest.json`` atomically, signed when ``key`` is given; return its path."""
        manifest = self.to_dict()
        if key is not None:
            manifest = sign(manifest, key)
        path = inside(out_dir, MANIFEST_NAME)
        atomic_write(path, canonical_json(manifest))
        return path


# ------------------------------------------------------------------------------------------ verify
# document kind -> "module:function(record, *, pack=None, templates=None, formats=("pdf",)) -> {fmt: bytes}"
RENDERERS: dict[str, str] = {"adverse_action_letter": "xai_reports.letters:rerender_letter",
                             "incident_report": "xai_reports.driving.report:rerender_incident"}


def register_renderer(kind: str, target: str) -> None:
    """Let ``verify`` re-render documents of ``kind`` (``"module:function"``, see ``RENDERERS``)."""
    RENDERERS[kind] = target


@dataclass
class Finding:
    """One verification result: ``status`` is ``"ok"``, ``"warn"`` or ``"FAIL"``."""

    status: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.status:4}  {self.subject}: {self.message}"


@dataclass
class VerifyReport:
    """All findings of a verification; ``ok`` when nothing failed."""

    findings: list[Finding] = field(default_factory=list)

    def add(self, status, subject, message):
        self.findings.append(Finding(status, str(subject), message))

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "FAIL"]

    @property
    def ok(self) -> bool:
        return not self.failures

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


def _check_pdf(report: VerifyReport, path: Path, data: bytes, *, sibling_json: Path | None, rerender: bool,
               pack=None, templates=None, sibling_html: Path | None = None) -> None:
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
    if sibling_json is not None and sibling_json.is_file():
        if sibling_json.read_bytes() != record_bytes:
            report.add("FAIL", label, f"embedded record differs from {sibling_json.name} (one of them was edited)")
        else:
            report.add("ok", label, f"embedded record identical to {sibling_json.name}")
    doc = record.get("document") if isinstance(record, dict) else None
    kind = doc.get("kind") if isinstance(doc, dict) else None
    if not rerender:
        return
    target = RENDERERS.get(kind)
    if target is None:
        report.add("warn", label, f"no renderer registered for document kind {kind or 'unknown'!r}: "
                                  "document not re-rendered (only its record and hashes are checked)")
        return
    recorded = (record.get("software") or {}).get("weasyprint")
    import weasyprint

    if recorded and recorded != weasyprint.__version__:
        report.add("warn", label, f"record was rendered with WeasyPrint {recorded}, this is "
                                  f"{weasyprint.__version__}: byte comparison skipped")
        return
    mod, _, fn = target.partition(":")
    formats = ("pdf", "html") if sibling_html is not None and sibling_html.is_file() else ("pdf",)
    try:
        files = getattr(importlib.import_module(mod), fn)(record, pack=pack, templates=templates, formats=formats)
    except XaiReportsError as exc:
        report.add("warn", label, f"cannot re-render from the record ({exc}); document not compared")
        return
    if "html" in formats:
        if files["html"] == sibling_html.read_bytes():
            report.add("ok", sibling_html.name, "HTML is exactly what the embedded record renders to")
        else:
            report.add("FAIL", sibling_html.name, "HTML does not match the record: altered after it was written")
    expected = files["pdf"]
    if expected == data:
        report.add("ok", label, "document is exactly what its embedded record renders to")
        return
    # Say what differs, in words people can act on.
    try:
        text, want = _pdf_text(data), _pdf_text(expected)
        detail = "visible text differs" if text != want else "visible text identical, bytes differ"
    except Exception:  # noqa: BLE001
        detail = "the file does not parse"
    report.add("FAIL", label, f"document does not match its embedded record ({detail}): "
                              "the PDF was altered after it was written")


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
        report.add("warn", path.name, "manifest is signed, but no key was given: signature not checked")
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


def verify(path, *, manifest=None, key: bytes | None = None, rerender: bool = True, pack=None,
           templates=None) -> VerifyReport:
    """Check a run folder or one PDF for tampering.

    Args:
        path: an output folder (with ``manifest.json``) or a PDF file.
        manifest: manifest path (default: ``manifest.json`` in the folder / next to the PDF).
        key: HMAC key bytes (see :func:`signing_key`); checks the signature when given.
        rerender: re-render each PDF from its embedded record and compare bytes.
        pack, templates: pack and user template folders used at generation,
            when not the ones the record names (for the re-render).

    Returns:
        A :class:`VerifyReport`; ``report.ok`` is False when anything was
        tampered with: a changed byte in any file, an edited record, a missing
        or extra file, a bad signature.

    Examples::

        >>> report = verify("letters/")          # doctest: +SKIP
        >>> print(report); report.ok             # doctest: +SKIP
    """
    path = Path(path)
    report = VerifyReport()
    if not path.exists():
        raise InputError("nothing to verify: path not found", file=path)
    if path.is_dir():
        mpath = Path(manifest) if manifest else path / MANIFEST_NAME
        if not mpath.is_file():
            report.add("FAIL", path, f"no {MANIFEST_NAME}: cannot tell which files belong to the run")
            files = sorted(p for p in path.rglob("*.pdf"))
            for p in files:
                _check_pdf(report, p, p.read_bytes(), sibling_json=p.with_suffix(".json"), rerender=rerender,
                           pack=pack, templates=templates)
            return report
        m = _load_manifest(report, mpath, key)
        if m is None:
            return report
        listed = m.get("outputs") or {}
        from .batch.journal import is_state_file  # the batch engine's resume journal: not an output

        present = {p.relative_to(path).as_posix(): p for p in sorted(path.rglob("*"))
                   if p.is_file() and p.resolve() != mpath.resolve() and not is_state_file(p.relative_to(path).as_posix())}
        for name in sorted(set(listed) - set(present)):
            report.add("FAIL", name, "missing: listed in the manifest, not in the folder")
        for name in sorted(set(present) - set(listed)):
            report.add("FAIL", name, "extra file: not written by this run (not in the manifest)")
        for name in sorted(set(listed) & set(present)):
            p = present[name]
            data = p.read_bytes()
            _check_entry(report, name, data, listed[name])
            if name.lower().endswith(".pdf"):
                sib = p.with_suffix(".json")
                html = p.with_suffix(".html")
                _check_pdf(report, p, data, sibling_json=sib if sib.relative_to(path).as_posix() in listed else None,
                           rerender=rerender, pack=pack, templates=templates,
                           sibling_html=html if html.relative_to(path).as_posix() in listed else None)
        return report
    data = path.read_bytes()
    mpath = Path(manifest) if manifest else path.parent / MANIFEST_NAME
    if mpath.is_file():
        m = _load_manifest(report, mpath, key)
        if m is not None:
            entry = (m.get("outputs") or {}).get(path.name)
            if entry is None:
                report.add("FAIL", path.name, f"not listed in {mpath.name}")
            else:
                _check_entry(report, path.name, data, entry)
    else:
        report.add("warn", path.name, f"no {MANIFEST_NAME} next to it: file hashes not checked")
    _check_pdf(report, path, data, sibling_json=path.with_suffix(".json"), rerender=rerender, pack=pack,
               templates=templates, sibling_html=path.with_suffix(".html"))
    return report
