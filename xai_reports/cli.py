"""The ``xai-reports`` command line.

Each subcommand lives in ``xai_reports/commands/<name>.py`` and exposes
``add_parser(subparsers)``. Errors a user can cause print one line
(``xai-reports: error: <file>: row N, column 'x': ...``) and exit with 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ._version import __version__
from .documents import registered_kinds
from .errors import XaiReportsError, brief

ERROR_LINE_LIMIT = 300  # characters of a CLI error message, ellipsis included

# subcommand -> module under xai_reports.commands (modules not present are skipped); the commands
# writing a document kind come from the kind registry (DocumentKind.command), between these
GENERAL_COMMANDS = {"demo": "demo"}
TOOL_COMMANDS = {"validate-pack": "validate_pack", "regenerate": "regenerate", "verify": "verify",
                 "counterfactuals": "counterfactuals", "model-card": "model_card"}


def commands() -> dict[str, str]:
    """Subcommand -> module under ``xai_reports.commands``: ``demo``, one per registered kind with a
    command (``letters``, ``audit``, ...), then the tools."""
    kinds = {k.command: k.command.replace("-", "_") for k in registered_kinds() if k.command}
    return {**GENERAL_COMMANDS, **kinds, **TOOL_COMMANDS}


def rendering_commands() -> set[str]:
    """Commands that render documents (they warn when HarfBuzz-Subset is missing)."""
    return {"demo", "regenerate", "verify"} | {k.command for k in registered_kinds() if k.command}


def _warn_font_subsetter() -> None:
    """One stderr line when fonts would be subset with fontTools (the Python warning is then not repeated)."""
    try:
        from .render import pdf
    except Exception:  # noqa: BLE001 - WeasyPrint itself missing: the command reports it
        return
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pdf.FontSubsetterWarning)
        try:
            msg = pdf.warn_if_no_harfbuzz()
        except Exception:  # noqa: BLE001
            return
    if msg:
        print(f"xai-reports: warning: {msg}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xai-reports",
        description="Audit-ready explanation documents from a trained model and the data of a decision.")
    parser.add_argument("--version", action="version", version=f"xai-reports {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in commands().items():
        try:
            mod = importlib.import_module(f"xai_reports.commands.{module}")
        except ModuleNotFoundError as exc:
            if exc.name == f"xai_reports.commands.{module}":
                continue
            raise
        mod.add_parser(sub, name)
    return parser


def error_line(exc) -> str:
    """The one line the CLI prints for an error: control characters escaped, at most
    :data:`ERROR_LINE_LIMIT` characters (an ellipsis marks a cut)."""
    return brief(f"xai-reports: error: {exc}", ERROR_LINE_LIMIT)


def main(argv=None) -> int:
    from .io.storage import scrub

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    if args.command in rendering_commands():
        _warn_font_subsetter()
    try:
        return int(args.func(args) or 0)
    except XaiReportsError as exc:
        print(scrub(error_line(exc)), file=sys.stderr)  # no credentials from a URL
        return 2
    except OSError as exc:  # an unwritable output, a full disk: the environment, not a bug
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(scrub(error_line(f"{where}{exc.strerror or type(exc).__name__}")), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("xai-reports: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
