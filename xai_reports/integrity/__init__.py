"""Run manifests, HMAC signatures and tamper checks for the documents a run writes.

A run (a batch of letters, an audit report, ...) writes ``manifest.json`` next
to its outputs: the SHA-256 and size of every output file, and of what went in
(data, reference data, model, pack files, templates), optionally signed with
HMAC-SHA256 (:mod:`.manifest`). :func:`verify` (``xai-reports verify PATH``)
checks a folder or a single PDF against it, and checks each PDF against its
embedded JSON record by re-rendering the document from the record through the
kind registry (:mod:`.verify`).
"""

from ..errors import IntegrityError
from ..io.outputs import sha256_file
from .manifest import (KEY_ENV, KEY_FILE_ENV, MANIFEST_NAME, MANIFEST_SCHEMA, MIN_KEY_BYTES, RECORD_NAME,
                       STEM_MANIFEST_SUFFIX, RunManifest, key_id, sha256_bytes, sign, signing_key,
                       write_document_manifest)
from .verify import Finding, VerifyReport, embedded_record, verify

__all__ = ["RunManifest", "signing_key", "sign", "key_id", "verify", "VerifyReport", "Finding", "MANIFEST_NAME",
           "STEM_MANIFEST_SUFFIX", "write_document_manifest", "MANIFEST_SCHEMA", "RECORD_NAME", "KEY_ENV",
           "KEY_FILE_ENV", "MIN_KEY_BYTES", "embedded_record", "sha256_bytes", "sha256_file", "IntegrityError"]
