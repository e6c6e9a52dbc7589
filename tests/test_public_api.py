"""The public surface other code relies on (kept stable)."""

import subprocess
import sys

import xai_reports

EXPECTED = {
    "__version__", "wrap_model", "load_model", "ModelAdapter", "explain", "Attribution", "load_pack",
    "generate_letters", "regenerate",
    "XaiReportsError", "InputError", "PackError", "KeyedError", "ModelLoadError", "UnsafeModelError",
    "ExplanationError", "RenderError", "TemplateError", "ConstraintViolation",
    "PrivacyError", "IntegrityError", "SchedulerError", "BatchStateError",
}


def test_all_is_pinned():
    assert EXPECTED <= set(xai_reports.__all__)
    for name in xai_reports.__all__:
        assert hasattr(xai_reports, name), name


def test_every_error_class_is_exported():
    """Every exception class of xai_reports.errors is in errors.__all__ and in the top-level __all__."""
    from xai_reports import errors

    classes = {n for n, v in vars(errors).items() if isinstance(v, type) and issubclass(v, Exception)
               and v.__module__ == errors.__name__}
    assert classes == set(errors.__all__)
    assert classes <= set(xai_reports.__all__)
    for name in classes:
        assert name in (errors.__doc__ or ""), name


def test_public_callables_have_docstrings():
    for name in ("wrap_model", "explain", "load_pack", "generate_letters", "load_model"):
        doc = getattr(xai_reports, name).__doc__ or ""
        assert "Args:" in doc or "Returns" in doc, name


def test_module_and_console_entry_points():
    out = subprocess.run([sys.executable, "-m", "xai_reports", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for cmd in ("letters", "demo", "validate-pack", "regenerate"):
        assert cmd in out.stdout
