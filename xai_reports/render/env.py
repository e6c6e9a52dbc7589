"""The Jinja environment every document is rendered with.

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
from datetime import date
from functools import lru_cache
from pathlib import Path

import jinja2
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


@lru_cache(maxsize=32)
def _env(dirs: tuple[str, ...]) -> jinja2.Environment:
    env = ImmutableSandboxedEnvironment(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(d) for d in dirs]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["long_date"] = long_date
    return env


def environment(template_dirs) -> jinja2.Environment:
    """The (cached) environment searching ``template_dirs`` in order."""
    return _env(tuple(str(Path(d).resolve()) for d in template_dirs))


def render_template(name: str, context: dict, template_dirs) -> str:
    """Render ``name`` with ``context``; any template problem becomes a :class:`TemplateError`."""
    env = environment(template_dirs)
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"template '{exc.name}' not found in {', '.join(map(str, template_dirs))}") from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"template '{name}' uses a field the document does not have: {exc.message}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{exc.filename or name}: line {exc.lineno}: {exc.message}") from None
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(f"template '{name}' tried an unsafe operation: {exc}") from None


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
