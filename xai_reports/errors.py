"""Exceptions raised by xai-reports.

Every error a user can cause names where it happened (file, row, column or
pack key) so the one-line message printed by the CLI is enough to fix it::

    XaiReportsError
     ├── InputError            bad data: missing/extra column, NaN, wrong type, unknown category, empty file
     ├── PackError             a domain pack that does not validate (names the file and the key path)
     │    └── KeyedError       a check across a pack's keys (a section's check_pack hook), naming its key path
     ├── ModelLoadError        a model file that cannot be read
     │    └── UnsafeModelError a pickle/joblib file, refused because loading it runs arbitrary code
     ├── ExplanationError      an attribution that cannot be computed or fails its self-check
     │    └── ModelCallError   the model raised on the input (X of another shape, channels or columns)
     ├── RenderError           a document that cannot be rendered
     │    ├── TemplateError    a template that is missing, broken, or references a missing field
     │    └── PrivacyError     a de-identified document that would contain an identifier (nothing written)
     ├── ConstraintViolation   a counterfactual that would break an actionability constraint
     ├── IntegrityError        a signing key or manifest that cannot be used (tampering is reported, not raised)
     ├── SchedulerError        a Dask scheduler that cannot be reached, or workers that cannot do the work
     └── BatchStateError       an output folder holding a batch this run cannot resume (other inputs, or in use)

Warnings are defined beside the code that warns; filter them by class::

    UserWarning
     └── FontSubsetterWarning  fontTools' subsetter messages while a PDF's fonts are subset (render.pdf)
"""

from __future__ import annotations

import re

__all__ = [
    "XaiReportsError",
    "InputError",
    "PackError",
    "KeyedError",
    "ModelLoadError",
    "UnsafeModelError",
    "ExplanationError",
    "ModelCallError",
    "RenderError",
    "TemplateError",
    "ConstraintViolation",
    "PrivacyError",
    "IntegrityError",
    "SchedulerError",
    "BatchStateError",
]


class XaiReportsError(Exception):
    """Base class of every error raised on purpose by xai-reports."""


class InputError(XaiReportsError, ValueError):
    """Input data that cannot be used as it is.

    ``file``, ``row`` (1-based data row, header excluded), ``column`` and
    ``record_id`` are set where known, and the message names them.
    """

    def __init__(self, message: str, *, file=None, row=None, column=None, record_id=None):
        self.file = None if file is None else str(file)
        self.row = row
        self.column = column
        self.record_id = record_id
        self.reason = message
        super().__init__(self._format())

    def _format(self) -> str:
        """``file: row N (id X), column 'c': problem``, leaving out what is unknown."""
        where = []
        if self.row is not None:
            where.append(f"row {self.row}" + (f" (id {self.record_id})" if self.record_id not in (None, "") else ""))
        if self.column is not None:
            where.append(f"column '{self.column}'")
        parts = [p for p in (self.file, ", ".join(where)) if p]
        return ": ".join(parts + [self.reason])

    def to_dict(self) -> dict:
        return {"file": self.file, "row": self.row, "id": self.record_id,
                "column": self.column, "error": self.reason, "message": str(self)}


class PackError(XaiReportsError, ValueError):
    """A domain pack that does not validate. The message names file and key path."""

    def __init__(self, message: str, *, file=None, key_path: str | None = None):
        self.file = None if file is None else str(file)
        self.key_path = key_path
        self.reason = message
        where = ": ".join(p for p in (self.file, key_path) if p)
        super().__init__(f"{where}: {message}" if where else message)


class KeyedError(PackError):
    """A check across a pack's keys that knows the key path it belongs to.

    Raised by a section's ``check_pack(pack)`` hook (see :mod:`xai_reports.documents.base`);
    the loader reports it as a :class:`PackError` naming the pack file and ``loc``.
    """

    def __init__(self, loc: tuple, message: str):
        self.loc = tuple(loc)
        super().__init__(message, key_path=".".join(str(p) for p in self.loc))


class ModelLoadError(XaiReportsError):
    """A model file that cannot be loaded."""


class UnsafeModelError(ModelLoadError):
    """A model file in a format whose loading can execute arbitrary code (pickle, joblib)."""


class ExplanationError(XaiReportsError):
    """An attribution that cannot be computed or fails its own self-check."""


class ModelCallError(ExplanationError, RuntimeError):
    """The model raised when it was first called on the input: most often ``X`` of another shape than the
    model was built for (other channels, image size or columns). The message names ``X``'s row shape and
    the model's own error, which is chained (``__cause__``); a ``RuntimeError`` too, as that error mostly is.
    """


class RenderError(XaiReportsError):
    """A document that cannot be rendered."""


class TemplateError(RenderError):
    """A template that is missing, invalid, or uses a field the document does not have."""


class ConstraintViolation(XaiReportsError):
    """A counterfactual that would break an actionability constraint."""


class PrivacyError(RenderError):
    """A de-identified document would contain an identifier; nothing was written."""


class IntegrityError(XaiReportsError):
    """A signing key or manifest that cannot be used (not a tampering finding: those are reported)."""


class SchedulerError(XaiReportsError):
    """A Dask scheduler that cannot be reached or a cluster whose workers cannot do the work."""


class BatchStateError(XaiReportsError):
    """The output folder holds a batch that cannot be resumed by this run (other inputs, or in use)."""


# C0 and C1 control characters, DEL, and the Unicode line/paragraph separators
CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def brief(text, limit: int = 160) -> str:
    """``text`` made fit for a one-line error message.

    Control characters and line breaks are shown escaped (``\\n``, ``\\x00``),
    never raw, and the result is cut to ``limit`` characters with an ellipsis,
    so a message quoting data or a library's error (which may quote a whole
    file) stays one short line.

    Examples::

        >>> brief("line one\\nline two")
        'line one\\\\nline two'
        >>> len(brief("x" * 1000, 50))
        50
    """
    s = CONTROL_CHARS.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))
    return s if len(s) <= limit else s[:limit - 1] + "…"
