"""The Jinja environment every document is rendered with (the only place one is made: :func:`_env`,
so the settings below hold for every template, shipped, pack or user).

* ``ImmutableSandboxedEnvironment``: pack and user templates cannot reach
  Python internals;
* autoescape on for every template, so data (an applicant's name) cannot
  inject markup such as ``<img src=file:///...>``;
* ``StrictUndefined``: a missing field fails the render instead of leaving a
  blank in a letter;
* a ``ChoiceLoader`` over the pack's and the user's folders before the shipped
  templates, so an institution overrides one template (or one block, through
  ``{% extends %}``) without copying the rest.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from functools import lru_cache
from pathlib import Path

import jinja2
import markupsafe
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import TemplateError

_MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
           "septiembre", "octubre", "noviembre", "diciembre"],
}


def long_date(value: str | date, lang: str = "en") -> str:
    """``2026-11-22`` -> ``November 22, 2026`` (``22 de noviembre de 2026`` in Spanish)."""
    d = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    months = _MONTHS.get(lang, _MONTHS["en"])
    if lang == "es":
        return f"{d.day} de {months[d.month - 1]} de {d.year}"
    return f"{months[d.month - 1]} {d.day}, {d.year}"


SHIPPED_NS = "shipped"
PACK_NS = "pack"


class TemplateSearchPath(list):
    """Template folders in search order, remembering how many come from the user.

    The first ``n_user`` folders are the user's (``--templates DIR``), then the
    pack's (derived pack first), then the shipped templates. Besides plain names
    the loader understands two namespaces, so an override can extend the very
    template it replaces without copying it:

    * ``pack:NAME``: ``NAME`` looked up with the user folders skipped;
    * ``shipped:NAME``: ``NAME`` from the templates shipped with xai-reports.
    """

    def __init__(self, dirs=(), n_user: int = 0):
        super().__init__(Path(d).resolve() for d in dirs)
        self.n_user = n_user


def template_search_path(pack_dirs, templates=None) -> TemplateSearchPath:
    """User template folders (``templates``) before the pack's (``pack_dirs``).

    Args:
        pack_dirs: ``LoadedPack.template_dirs()`` (ends with the shipped folder).
        templates: a folder or a list of folders whose templates override
            blocks or whole templates; ``None`` for none.

    Returns:
        A :class:`TemplateSearchPath`.

    Raises:
        TemplateError: a user folder that does not exist.

    Examples::

        >>> from xai_reports.packs import load_pack
        >>> path = template_search_path(load_pack("finance").template_dirs())
        >>> path.n_user
        0
    """
    if templates is None:
        user = []
    elif isinstance(templates, (str, Path)):
        user = [templates]
    else:
        user = list(templates)
    from ..io.remote import local_folder

    user = [local_folder(str(d)) for d in user]  # a URL (s3://...): its private local copy
    for d in user:
        if not Path(d).is_dir():
            raise TemplateError(f"template folder '{d}' not found (or not a folder)")
    n_user = len(user)
    dirs = [Path(d).resolve() for d in user]
    for d in pack_dirs:
        r = Path(d).resolve()
        if r not in dirs:
            dirs.append(r)
    return TemplateSearchPath(dirs, n_user)


def _asset_data_uri(dirs: tuple[str, ...]):
    """``asset_data_uri("logo.png")``: a file from the template folders as an inline ``data:`` URL.

    Keeps HTML self-contained (a logo travels inside the file) and confines reads
    to the template folders, like the PDF fetcher.
    """
    import base64
    import mimetypes
    import os

    roots = [Path(os.path.realpath(d)) for d in dirs]

    def asset_data_uri(name: str) -> str:
        rel = str(name)
        if "\x00" in rel or rel.startswith(("/", "\\")) or ":" in rel:
            raise TemplateError(f"asset {name!r}: give a path relative to the template folders")
        for root in roots:
            real = Path(os.path.realpath(root / rel))
            if (root == real or root in real.parents) and real.is_file():
                mime = mimetypes.guess_type(real.name)[0] or "application/octet-stream"
                return f"data:{mime};base64," + base64.b64encode(real.read_bytes()).decode("ascii")
        raise TemplateError(f"asset {name!r} not found inside the template folders")

    return asset_data_uri


class _ConfinedLoader(jinja2.FileSystemLoader):
    """A ``FileSystemLoader`` that refuses a template file whose real path (symlinks resolved) leaves its folder.

    Pack template folders are confined to the pack's folder (``packs.loader``);
    this keeps a symlink inside one (``templates/x.html.j2 -> /etc/passwd``) from
    bringing an outside file into a document.
    """

    def get_source(self, environment, template):
        import os

        from jinja2.loaders import split_template_path

        pieces = split_template_path(template)
        for root in self.searchpath:
            candidate = os.path.join(root, *pieces)
            if os.path.isfile(candidate):
                real, top = os.path.realpath(candidate), os.path.realpath(root)
                if not real.startswith(top.rstrip(os.sep) + os.sep):
                    raise TemplateError(f"template '{template}' is a link to {real}, outside the pack's template "
                                        f"folder {root}; copy the file into the pack instead")
                break
        return super().get_source(environment, template)


# control characters a document never shows: C0 except tab and line feed, DEL, C1
_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BREAKS = re.compile("\r\n?|[\u2028\u2029]")


def clean_text(value):
    """What every ``{{ expression }}`` of a template prints, before autoescaping: control characters
    removed (NUL, C0 but tab and line feed, DEL, C1), ``\\r\\n``, ``\\r`` and the Unicode line/paragraph
    separators as ``\\n``, so data (a name, an address, a narrative) can never put a raw control
    character into the HTML or the PDF made from it. Tab and line feed are HTML white space (inside
    ``<pre>`` they keep their meaning). Decision ids never get here with control characters: they are
    refused when the data are read (:func:`xai_reports.io.tabular.check_id`)."""
    if isinstance(value, str) and (_HIDDEN.search(value) or _BREAKS.search(value)):
        cleaned = _HIDDEN.sub("", _BREAKS.sub("\n", value))
        return markupsafe.Markup(cleaned) if isinstance(value, markupsafe.Markup) else cleaned
    return value


@lru_cache(maxsize=32)
def _env(dirs: tuple[str, ...], n_user: int = 0) -> jinja2.Environment:
    from .._resources import templates_dir

    # the user's own folders (--templates) are trusted as given; the pack's are confined
    plain = [(jinja2.FileSystemLoader if i < n_user else _ConfinedLoader)(d) for i, d in enumerate(dirs)]
    namespaces = {
        SHIPPED_NS: jinja2.FileSystemLoader(str(templates_dir().resolve())),
        PACK_NS: jinja2.ChoiceLoader(plain[n_user:]),
    }
    env = ImmutableSandboxedEnvironment(
        loader=jinja2.ChoiceLoader([jinja2.PrefixLoader(namespaces, delimiter=":"), *plain]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=clean_text,
    )
    env.filters["long_date"] = long_date
    env.globals["asset_data_uri"] = _asset_data_uri(dirs)
    return env


def environment(template_dirs) -> jinja2.Environment:
    """The (cached) sandboxed environment searching ``template_dirs`` in order.

    Args:
        template_dirs: folders, or a :class:`TemplateSearchPath` (user folders first).

    Returns:
        A ``jinja2.sandbox.ImmutableSandboxedEnvironment`` with autoescape,
        ``StrictUndefined``, the ``long_date`` filter, the ``asset_data_uri``
        global and the ``pack:`` / ``shipped:`` namespaces.
    """
    return _env(tuple(str(Path(d).resolve()) for d in template_dirs), getattr(template_dirs, "n_user", 0))


def localized_template(name: str, lang: str, template_dirs) -> str:
    """The language variant of ``name`` if the search path has one, else ``name``.

    ``finance/adverse_action_letter.html.j2`` in ``"es"`` becomes
    ``finance/adverse_action_letter.es.html.j2`` when that file exists in any
    template folder (user, pack or shipped).

    Examples::

        >>> from xai_reports.packs import load_pack
        >>> localized_template("finance/adverse_action_letter.html.j2", "es", load_pack("finance").template_dirs())
        'finance/adverse_action_letter.es.html.j2'
    """
    if not lang or lang == "en":
        return name
    stem, dot, ext = name.partition(".")
    candidate = f"{stem}.{lang}.{ext}" if dot else f"{name}.{lang}"
    env = environment(template_dirs)
    try:
        env.loader.get_source(env, candidate)
    except jinja2.TemplateNotFound:
        return name
    return candidate


def render_template(name: str, context: dict, template_dirs, *, self_contained: bool = True) -> str:
    """Render ``name`` with ``context``; any template problem becomes a :class:`TemplateError`.

    Args:
        name: template name (``finance/adverse_action_letter.html.j2``, ``pack:...``, ``shipped:...``).
        context: the variables the template sees (autoescaped).
        template_dirs: folders or a :class:`TemplateSearchPath`.
        self_contained: refuse output that would load anything but inline
            ``data:`` URLs (a self-contained HTML file; see ``render.safety``).

    Returns:
        The HTML text.

    Raises:
        TemplateError: missing template, syntax error, missing field
            (``StrictUndefined``), unsafe operation (sandbox), a template that
            extends itself, or an external resource in the output.
    """
    env = environment(template_dirs)
    try:
        html = env.get_template(name).render(**context)
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"template '{exc.name}' not found in {', '.join(map(str, template_dirs))}") from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"template '{name}' uses a field the document does not have: {exc.message}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{exc.filename or name}: line {exc.lineno}: {exc.message}") from None
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(f"template '{name}' tried an unsafe operation: {exc}") from None
    except RecursionError:
        raise TemplateError(f"template '{name}' extends or includes itself; to override a template under the "
                            f"same name, extend '{PACK_NS}:{name}' or '{SHIPPED_NS}:{name}'") from None
    if self_contained:
        from .safety import external_resources

        loads = external_resources(html)
        if loads:
            raise TemplateError(f"template '{name}' makes the document load external resources "
                                f"(documents must be self-contained; inline them with asset_data_uri()): "
                                f"{'; '.join(loads[:5])}")
    return html


def template_fingerprint(name: str, template_dirs) -> dict:
    """SHA-256 of a template and of everything it extends or includes, for the record."""
    env = environment(template_dirs)
    seen: dict[str, str] = {}

    def visit(n: str):
        if n in seen:
            return
        try:
            source, filename, _ = env.loader.get_source(env, n)
        except jinja2.TemplateNotFound:
            raise TemplateError(f"template '{n}' not found") from None
        seen[n] = hashlib.sha256(source.encode()).hexdigest()
        for ref in meta.find_referenced_templates(env.parse(source)):
            if ref:
                visit(ref)

    visit(name)
    combined = hashlib.sha256("".join(f"{k}:{v}\n" for k, v in sorted(seen.items())).encode()).hexdigest()
    return {"name": name, "sha256": combined, "files": dict(sorted(seen.items()))}


def check_recorded_template(record: dict, pack_dirs, templates=None) -> None:
    """Refuse to re-render a record whose template has changed since it was written.

    Raises:
        TemplateError: the template (or anything it extends or includes) differs
            from the version named in ``record["document"]["template"]``.
    """
    tpl = record["document"]["template"]
    now = template_fingerprint(tpl["name"], template_search_path(pack_dirs, templates))
    if now["sha256"] != tpl["sha256"]:
        changed = sorted(k for k in set(now["files"]) | set(tpl["files"])
                         if now["files"].get(k) != tpl["files"].get(k))
        raise TemplateError(f"template '{tpl['name']}' differs from the recorded version "
                            f"(changed: {', '.join(changed)}); pass the pack and --templates used to write it")
