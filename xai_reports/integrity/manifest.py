"""Run manifests and HMAC signatures for the documents a run writes.

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
import os
from pathlib import Path

from ..errors import IntegrityError
from ..io.outputs import atomic_write, canonical_json, inside, sha256_file
from ..io.storage import basename, is_remote, local_path, sha256_url

__all__ = ["RunManifest", "signing_key", "sign", "key_id", "write_document_manifest", "sha256_bytes", "sha256_file",
           "MANIFEST_NAME", "STEM_MANIFEST_SUFFIX", "MANIFEST_SCHEMA", "RECORD_NAME", "KEY_ENV", "KEY_FILE_ENV",
           "MIN_KEY_BYTES"]

MANIFEST_NAME = "manifest.json"
STEM_MANIFEST_SUFFIX = ".manifest.json"  # a single-document command's manifest: <stem>.manifest.json
MANIFEST_SCHEMA = "xai-reports/manifest/1"
RECORD_NAME = "record.json"
KEY_ENV = "XAI_REPORTS_SIGNING_KEY"
KEY_FILE_ENV = "XAI_REPORTS_SIGNING_KEY_FILE"
MIN_KEY_BYTES = 16

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
        if is_remote(source):
            digest, size = sha256_url(source)
            self.inputs[role] = {"name": name or basename(source), "sha256": digest, "bytes": size}
            return
        if isinstance(source, (str, Path)):
            p = local_path(source)
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

    def add_file(self, path, *, relative_to=None) -> None:
        """Record an output file already written (hashed from disk), named relative to ``relative_to``."""
        p = Path(path)
        name = p.name if relative_to is None else p.resolve().relative_to(Path(relative_to).resolve()).as_posix()
        self.outputs[name] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}

    def write(self, out_dir, *, key: bytes | None = None, name: str = MANIFEST_NAME) -> Path:
        """Write ``out_dir/<name>`` (default ``manifest.json``) atomically, signed when ``key`` is given;
        return its path."""
        manifest = self.to_dict()
        if key is not None:
            manifest = sign(manifest, key)
        if getattr(out_dir, "is_remote", False):  # an object-storage folder: one PUT
            out_dir.write(name, canonical_json(manifest))
            return out_dir.key(name)
        path = inside(out_dir, name)
        atomic_write(path, canonical_json(manifest))
        return path


def write_document_manifest(files, kind: str, *, software: dict | None = None, inputs: dict | None = None,
                            key: bytes | None = None) -> Path:
    """The manifest of a single-document command (audit, incident): ``<stem>.manifest.json``.

    It sits next to the document and lists the files of ``files`` that are in
    the same folder as the first one (a ``--json`` written elsewhere is not
    listed), so several reports can share a folder and each stays verifiable.

    Args:
        files: the paths written (the first one names the manifest).
        kind: ``"audit_report"``, ``"incident_report"``...
        software: versions of the software that made them.
        inputs: ``{role: {"name", "sha256", ...}}`` of what went in.
        key: HMAC key (signs the manifest when given).

    Returns:
        The manifest's path.
    """
    files = [Path(f) for f in files]
    folder = files[0].resolve().parent
    manifest = RunManifest(kind, software=software)
    manifest.inputs.update(inputs or {})
    for f in files:
        if f.resolve().parent == folder:
            manifest.add_file(f)
    return manifest.write(folder, key=key, name=files[0].stem + STEM_MANIFEST_SUFFIX)
