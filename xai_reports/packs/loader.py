"""Load, merge (``extends:``) and validate domain packs."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import warnings
from pathlib import Path

import yaml
from pydantic import ValidationError

from .._resources import domains_dir, templates_dir
from ..errors import PackError, brief
from ..documents.base import get_kind, kind_for_section
from .fields import KeyedError
from .schema import Pack, rename_legacy_sections


class LoadedPack:
    """A validated pack plus where it came from.

    Attributes:
        spec: the validated :class:`~.schema.Pack`.
        files: the YAML files merged, base first.
        directory: the folder of the most derived pack file.
        sha256: hash of the merged, canonical pack content.
    """

    def __init__(self, spec: Pack, files: list[Path], raw: dict, roots: dict | None = None,
                 deprecations: list[str] | None = None, written_as: dict | None = None):
        self.spec = spec
        self.files = files
        self._roots = dict(roots or {})  # pack file -> the folder its paths are confined to
        self.directory = files[-1].parent
        self.raw = raw
        self.deprecations = list(deprecations or [])  # the DeprecationWarnings loading it gave
        self._written_as = dict(written_as or {})  # section key -> the name the pack writes it under
        self.sha256 = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()

    def __getattr__(self, item):
        # Delegate fields (name, version, features, finance, ...) to the spec.
        if item in ("spec", "files", "directory", "raw", "sha256", "_roots", "deprecations", "_written_as",
                    "source_url", "_described", "_template_dirs"):
            raise AttributeError(item)
        return getattr(self.spec, item)

    def template_dirs(self) -> list[Path]:
        """Template search path: this pack's folders (derived first), then the shipped templates."""
        cached = self.__dict__.get("_template_dirs")
        if cached is None:
            cached = self.__dict__["_template_dirs"] = self._find_template_dirs()
        return list(cached)

    def _find_template_dirs(self) -> list[Path]:
        dirs: list[Path] = []
        for f in reversed(self.files):
            root = self._roots.get(f, f.parent)
            for d in self._raw_dirs_of(f):
                dirs.append(_confined(d, f.parent, root, f, "template_dirs"))
            local = f.parent / "templates"
            if local.is_dir():
                dirs.append(_confined("templates", f.parent, root, f, "templates folder"))
        dirs.append(templates_dir())
        seen, out = set(), []
        for d in dirs:
            r = d.resolve()
            if r not in seen:
                seen.add(r)
                out.append(r)
        return out

    def _raw_dirs_of(self, file: Path) -> list:
        dirs = _read_yaml(file).get("template_dirs") or []
        if not isinstance(dirs, list):
            raise PackError("expected a list of folders relative to the pack", file=file, key_path="template_dirs")
        return dirs

    def require_section(self, name: str):
        """The section of document kind ``name`` (or of its old name: ``"finance"``, ...);
        a :class:`PackError` naming the key when it is absent.

        A pack may leave a kind's section out (an audit-only pack, say); the
        documents that need one ask for it here.
        """
        found = kind_for_section(name)
        kind = found[0] if found is not None else get_kind(name)
        section = self.spec.section(kind.name)
        if section is None:
            key = kind.section or name
            now = "" if name == key else f" (now '{key}:')"
            raise PackError(f"pack '{self.spec.name}' has no '{name}' section{now}: {kind.section_use}",
                            file=self.files[-1], key_path=self._written_as.get(key, key))
        return section

    def section_key(self, kind: str) -> str:
        """The key this pack writes kind ``kind``'s section under (``"case_review"``, or an old
        pack's ``"healthcare"``), for error messages that name a key as the pack file has it."""
        key = get_kind(kind).section or kind
        return self._written_as.get(key, key)

    def require_complete(self, document: str) -> None:
        """Raise a :class:`PackError` naming the first field a lender must still set for ``document``
        (``"letter"`` or ``"audit"``), and the pack file to set it in.

        The shipped ``finance`` pack is a base: it carries no institution and no
        model inventory facts, so a derived pack cannot inherit an example bank's
        telephone number or an example model's owner unnoticed.
        """
        gaps = self.spec.completeness_gaps(document)
        if gaps:
            key, what = gaps[0]
            more = f" (and {len(gaps) - 1} more: {', '.join(k for k, _ in gaps[1:])})" if len(gaps) > 1 else ""
            raise PackError(f"not set: {what}; the lender sets it in its own pack{more}",
                            file=self.files[-1], key_path=key)

    def describe(self) -> dict:
        """What a record says about its pack: name, version, SHA-256, files, and ``ref``: the shipped
        pack's name, or the resolved path of a custom pack's file (so ``verify`` and ``regenerate`` find it)."""
        cached = self.__dict__.get("_described")  # asked for every record: the paths are resolved once
        if cached is None:
            cached = self.__dict__["_described"] = {
                "name": self.spec.name, "version": self.spec.version, "sha256": self.sha256,
                "files": [_shown_file(f) for f in self.files], "ref": pack_ref(self)}
        return {**cached, "files": list(cached["files"])}

    def __repr__(self) -> str:
        return f"<pack {self.spec.name} {self.spec.version} ({self.files[-1]})>"


def _shown_file(f) -> str:
    """A pack file as a record names it: ``<pack>/pack.yaml`` for a shipped pack, else the file name
    (never an absolute path, so records do not depend on where the checkout lies)."""
    f = Path(f).resolve()
    try:
        return f.relative_to(domains_dir().resolve()).as_posix()
    except ValueError:
        return f.name


def pack_ref(pack) -> str:
    """How a record refers to ``pack``: a shipped pack's name (derived shipped packs included, so the
    reference does not depend on where the installation lies), else the resolved path of the pack's file."""
    url = pack.__dict__.get("source_url") if isinstance(pack, LoadedPack) else None
    if url:
        from ..io.storage import scrub

        return scrub(url)  # a pack on object storage: its URL, without credentials
    f = Path(pack.files[-1]).resolve()
    if f.parent.parent == domains_dir().resolve() and f.name == "pack.yaml":
        return f.parent.name  # a shipped pack: workers and verify resolve it in their own installation
    return str(f)


def _resolve_pack_file(name_or_path, relative_to: Path | None = None) -> Path:
    p = Path(str(name_or_path))
    candidates = []
    if relative_to is not None and not p.is_absolute():
        candidates.append(relative_to / p)
    candidates.append(p)
    for c in candidates:
        if c.is_file():
            return c.resolve()
        if c.is_dir() and (c / "pack.yaml").is_file():
            return (c / "pack.yaml").resolve()
    shipped = domains_dir() / str(name_or_path) / "pack.yaml"
    if shipped.is_file():
        return shipped.resolve()
    known = sorted(d.name for d in domains_dir().iterdir() if (d / "pack.yaml").is_file())
    raise PackError(f"no pack named or found at '{name_or_path}' (shipped packs: {', '.join(known)})")


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _confined(ref, base: Path, root: Path, file: Path, key: str) -> Path:
    """``ref`` (a path written in pack ``file``) resolved against ``base``, symlinks and ``..`` included.

    A pack may only name files inside its own folder ``root``: a pack is data
    someone else may have written, and a folder such as ``/etc`` in
    ``template_dirs`` would let its templates copy any readable file into every
    document (``asset_data_uri``). Folders the user gives on the command line
    (``--templates``) are not confined.

    Raises:
        PackError: ``ref`` is absolute or resolves outside ``root``.
    """
    text = str(ref)
    if "\x00" in text:
        raise PackError("a path must not contain NUL characters", file=file, key_path=key)
    hint = ("extend a shipped pack by name (extends: finance) or copy the base pack into the pack's folder"
            if key == "extends" else "give other template folders with --templates")
    p = Path(text)
    if p.is_absolute():
        raise PackError(f"'{_short(text, 60)}' is an absolute path; a pack may only name paths inside its own "
                        f"folder ({hint})", file=file, key_path=key)
    real = Path(os.path.realpath(base / p))
    if not _inside(real, Path(os.path.realpath(root))):
        raise PackError(f"'{_short(text, 60)}' is outside the pack's folder; a pack may only name paths inside its "
                        f"own folder ({hint}; it resolves to {_short(str(real), 80)})", file=file, key_path=key)
    return real


def _short(text: str, limit: int = 120) -> str:
    return brief(text, limit)


def _resolve_extends(ref, file: Path, root: Path) -> tuple[Path, Path]:
    """The pack file ``extends: ref`` in ``file`` names, and the folder that file's own paths are confined to.

    ``ref`` is a path inside the pack's folder ``root`` (``base.yaml``,
    ``common/``), or the name of a shipped pack (``finance``); a shipped pack is
    confined to its own folder.
    """
    if not isinstance(ref, str) or not ref.strip():
        raise PackError(f"expected a pack name or a path inside the pack's folder, got {_short(repr(ref))}",
                        file=file, key_path="extends")
    if "\x00" in ref:
        _confined(ref, file.parent, root, file, "extends")
    p = Path(ref)
    local = None
    if not p.is_absolute():
        cand = file.parent / p
        if cand.is_file() or (cand.is_dir() and (cand / "pack.yaml").is_file()):
            local = cand if cand.is_file() else cand / "pack.yaml"
    if local is not None:
        return _confined(local.relative_to(file.parent), file.parent, root, file, "extends"), root
    shipped = domains_dir() / ref / "pack.yaml"
    if "/" not in ref and ref not in (".", "..") and shipped.is_file():
        real = shipped.resolve()
        return real, real.parent
    # not found: say why, refusing outside paths before saying "not found"
    _confined(ref, file.parent, root, file, "extends")
    known = sorted(d.name for d in domains_dir().iterdir() if (d / "pack.yaml").is_file())
    raise PackError(f"no pack named or found at '{_short(ref)}' (a path inside the pack's folder, or a shipped pack: "
                    f"{', '.join(known)})", file=file, key_path="extends")


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PackError(f"cannot read pack file ({exc.strerror})", file=path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PackError(f"{where}invalid YAML ({brief(problem, 120)})", file=path) from None
    if data is None:
        raise PackError("pack file is empty", file=path)
    if not isinstance(data, dict):
        raise PackError(f"expected a mapping at the top level, got {type(data).__name__}", file=path)
    return data


def _merge(base: dict, child: dict, prov: dict, child_file: Path, path=(), replace=()) -> dict:
    """Deep-merge ``child`` into ``base``; ``None`` deletes a key. Records key provenance."""
    out = copy.deepcopy(base)
    for key, value in child.items():
        kp = path + (key,)
        if value is None and key in out:
            del out[key]
            continue
        if (isinstance(value, dict) and isinstance(out.get(key), dict) and not (len(kp) == 1 and key in replace)):
            out[key] = _merge(out[key], value, prov, child_file, kp, replace)
        else:
            out[key] = copy.deepcopy(value)
            _record(prov, kp, value, child_file)
    return out


def _record(prov: dict, kp: tuple, value, file: Path):
    prov[kp] = file
    if isinstance(value, dict):
        for k, v in value.items():
            _record(prov, kp + (k,), v, file)


class _Raw:
    """A pack chain as read: ``written`` (merged as the files say it: the pack's hash is of this),
    ``data`` (merged with old section names renamed: what is validated), ``files``, ``prov``
    (key path -> the file that set it), ``written_as`` (a kind's section key -> the name the most
    derived file giving the section wrote it under: ``letter`` or, in an old pack, ``finance``)
    and ``deprecations`` (the warnings given)."""

    def __init__(self):
        self.written: dict = {}
        self.data: dict = {}
        self.files: list[Path] = []
        self.prov: dict = {}
        self.written_as: dict = {}
        self.deprecations: list[str] = []


def _renamed(data: dict, file: Path, raw: _Raw) -> dict:
    """``data`` of pack ``file`` with old section names renamed (each warns once, naming the new key)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = rename_legacy_sections(data, where=str(file))
        except KeyedError as exc:
            raise PackError(exc.reason, file=file, key_path=_format_loc(exc.loc)) from None
    for w in caught:
        raw.deprecations.append(str(w.message))
        warnings.warn(w.message, DeprecationWarning, stacklevel=5)  # the caller of load_pack
    for k in data:
        found = kind_for_section(k) if isinstance(k, str) else None
        if found is not None:
            raw.written_as[found[0].section] = k  # files are read base first: the most derived wins
    return out


def _section_key(key):
    """A kind's section key for ``key`` (its old name renamed); any other key as it is."""
    found = kind_for_section(key) if isinstance(key, str) else None
    return found[0].section if found is not None else key


def _load_raw(file: Path, stack: tuple = (), root: Path | None = None,
              roots: dict | None = None, raw: _Raw | None = None) -> _Raw:
    """Read ``file`` and what it extends. ``root``: the folder the paths it names are confined to
    (its own folder for the pack the user named and for shipped packs); ``roots`` collects it per file."""
    raw = _Raw() if raw is None else raw
    root = file.parent if root is None else root
    if roots is not None:
        roots[file] = root
    if file in stack:
        chain = " -> ".join(str(f) for f in stack + (file,))
        raise PackError(f"'extends' forms a cycle: {chain}", file=file, key_path="extends")
    data = _read_yaml(file)
    parent_ref = data.get("extends")
    if parent_ref is None:
        raw.written, raw.data, raw.files = data, _renamed(data, file, raw), [file]
        _record(raw.prov, (), raw.data, file)
        return raw
    parent_file, parent_root = _resolve_extends(parent_ref, file, root)
    _load_raw(parent_file, stack + (file,), parent_root, roots, raw)
    base_written, base_data = raw.written, raw.data
    replace = tuple(data.get("replace") or ())
    raw.written = _merge(base_written, data, {}, file, replace=replace)
    named = _renamed(data, file, raw)
    raw.data = _merge(base_data, named, raw.prov, file, replace=tuple(_section_key(k) for k in replace))
    _check_partial_features(base_data, named, file)
    raw.files = raw.files + [file]
    return raw


def _check_partial_features(base: dict, child: dict, file: Path):
    """A derived pack may tweak an inherited feature, but a new one must be declared fully."""
    for fname, spec in (child.get("features") or {}).items():
        if spec is None or fname in (base.get("features") or {}):
            continue
        if isinstance(spec, dict) and ("label" not in spec or "type" not in spec):
            missing = [k for k in ("label", "type") if k not in spec]
            raise PackError(
                f"feature '{fname}' is not declared by the base pack, so it needs {' and '.join(missing)} "
                f"(a reason or setting for an undeclared feature cannot stand alone)",
                file=file, key_path=f"features.{fname}")


def _format_loc(loc) -> str:
    return ".".join(str(p) for p in loc)


def _source_of(prov: dict, loc: tuple, default: Path) -> Path:
    for i in range(len(loc), -1, -1):
        if loc[:i] in prov:
            return prov[loc[:i]]
    return default


def load_pack(name_or_path) -> LoadedPack:
    """Load and validate a domain pack.

    Args:
        name_or_path: a shipped pack's name (``"finance"``), a ``pack.yaml`` file,
            or a folder holding one. ``extends:`` chains are followed and merged.

    Returns:
        A :class:`LoadedPack` (fields of the pack are attributes: ``pack.features``, ...).

    Raises:
        PackError: naming the file, the key path and what was expected.

    Examples::

        >>> pack = load_pack("finance")
        >>> pack.finance.max_reasons
        4
    """
    if isinstance(name_or_path, LoadedPack):
        return name_or_path
    from ..io.storage import is_remote

    if is_remote(name_or_path):
        return _load_remote(str(name_or_path))
    return _load_local(name_or_path)


def _load_remote(url: str) -> LoadedPack:
    """A pack on object storage: ``s3://bucket/packs/mybank`` (a folder holding ``pack.yaml``) or
    ``.../mybank/custom.yaml``. The prefix is copied into a private folder (:func:`~xai_reports.io.remote.fetch_tree`)
    and loaded from there, so its paths are confined to the prefix as a local pack's are to its folder."""
    from ..io.remote import fetch_tree, parent_url, relabelled
    from ..io.storage import basename

    name = basename(url)
    if name.lower().endswith((".yaml", ".yml")):
        folder_url, file = parent_url(url), name
    else:
        folder_url, file = url.split("?", 1)[0].rstrip("/"), "pack.yaml"
    folder = fetch_tree(folder_url)
    with relabelled(folder, folder_url):
        if not (folder / file).is_file():
            raise PackError(f"no {file} under this prefix", file=folder)
        pack = _load_local(folder / file)
    pack.__dict__["source_url"] = f"{folder_url}/{file}"  # what workers load; records name it scrubbed
    pack.__dict__.pop("_described", None)
    return pack


def _load_local(name_or_path) -> LoadedPack:
    file = _resolve_pack_file(name_or_path)
    roots: dict = {}
    loaded = _load_raw(file, roots=roots)
    files, prov = loaded.files, loaded.prov
    try:
        spec = Pack.model_validate(loaded.data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        ctx_exc = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_exc, KeyedError):
            loc = ctx_exc.loc
            msg = ctx_exc.reason
        else:
            msg = _explain_pydantic(err)
        src = _source_of(prov, loc, files[-1])
        if loc and loc[0] in loaded.written_as:  # name a section as the pack writes it (an old pack: finance)
            loc = (loaded.written_as[loc[0]],) + tuple(loc[1:])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise PackError(msg + more, file=src, key_path=_format_loc(loc) or None) from None
    pack = LoadedPack(spec, files, loaded.written, roots, loaded.deprecations, loaded.written_as)
    pack.template_dirs()  # refuses template folders outside the pack's folder now, not at the first render
    _check_templates(pack, prov)
    return pack


def _explain_pydantic(err: dict) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see README 'Writing a pack')"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        return f"expected {err['ctx']['expected']}, got {brief(repr(err.get('input')), 80)}"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    inp = err.get("input")
    if not isinstance(inp, (dict, list)):
        msg += f" (got {brief(repr(inp), 80)})"
    return msg


def _check_templates(pack: LoadedPack, prov: dict):
    dirs = pack.template_dirs()
    for kind, tpl in pack.spec.templates.items():
        if not any((d / tpl).is_file() for d in dirs):
            src = _source_of(prov, ("templates", kind), pack.files[-1])
            raise PackError(
                f"template '{tpl}' not found in {', '.join(str(d) for d in dirs)}",
                file=src, key_path=f"templates.{kind}")


def load_recorded_pack(recorded: dict, pack=None) -> LoadedPack:
    """The pack a record was written with: ``pack`` when given, else the one the record names.

    Args:
        recorded: the record's ``pack`` (``name``, ``sha256`` and, in records
            written since it was added, ``ref``: a shipped pack's name or the
            path of a custom pack's file).
        pack: a pack name, path or loaded pack to use instead (``--pack``).

    Returns:
        The loaded pack; when the record names a SHA-256, the pack's content has it.

    Raises:
        PackError: the pack is not found or differs from the recorded one; the
            message says exactly which ``--pack`` to pass.
    """
    recorded = recorded if isinstance(recorded, dict) else {}
    want = recorded.get("sha256")
    label = f"pack '{recorded.get('name', '?')}' {recorded.get('version', '')}".rstrip()
    short = f"sha256 {want[:12]}" if want else "no recorded hash"
    if pack is not None:
        loaded = load_pack(pack)
        if want and loaded.sha256 != want:
            raise PackError(f"--pack {pack} has sha256 {loaded.sha256[:12]}, but the document was written with "
                            f"{label} ({short}); pass the pack used to write it")
        return loaded
    tried = []
    for ref in dict.fromkeys(r for r in (recorded.get("ref"), recorded.get("name")) if r):
        try:
            loaded = load_pack(ref)
        except PackError as exc:
            tried.append(f"'{ref}': {str(exc).split(' (shipped packs')[0]}")
            continue
        if not want or loaded.sha256 == want:
            return loaded
        tried.append(f"'{ref}' is a different version (sha256 {loaded.sha256[:12]})")
    where = recorded.get("ref") or recorded.get("name") or "?"
    # what to do first: error lines are bounded, and the paths tried can be long
    raise PackError(f"cannot find {label} ({short}) that wrote this document: pass --pack with the pack.yaml or "
                    f"folder it was written with (recorded: {where}); tried {'; '.join(tried) or 'no pack named'}")
