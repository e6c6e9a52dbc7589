"""Regenerate ``requirements.lock``: the exact versions ``make install`` and ``.ci/run`` install.

Run through ``make lock`` (keeps the current pins where they still fit) or
``make lock UPGRADE=1`` (newest versions the registry serves). It runs
``uv pip compile`` on ``pyproject.toml`` with the extras ``make install``
installs, for the platform the project is tested on (CPython 3.11, Linux
x86-64), and leaves out torch and the packages only torch needs: torch is
installed separately (Makefile ``TORCH_SPEC``: a CPU or CUDA build, the
user's choice), so the lock never forces a torch build on anyone.

Usage::

    python tools/lock.py --extras test,parquet,dask,models [--upgrade] [--constraint FILE] [--out requirements.lock]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON_VERSION = "3.11"
PLATFORM = "x86_64-unknown-linux-gnu"
EXCLUDED = ("torch",)  # installed by TORCH_SPEC, never from the lock


def _uv() -> list[str]:
    exe = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if Path(exe).exists():
        return [exe]
    return [sys.executable, "-m", "uv"]


def _blocks(text: str) -> list[tuple[str, str, list[str]]]:
    """``(name, block text, via list)`` per package of a uv-annotated requirements file."""
    out, cur = [], None
    for line in text.splitlines(keepends=True):
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
        if m:
            cur = [m.group(1).lower().replace("_", "-"), line, []]
            out.append(cur)
        elif cur is not None and line.startswith("    "):
            cur[1] += line
            via = line.strip().lstrip("#").strip()
            via = via[len("via"):].strip() if via.startswith("via") else via
            if via and not via.startswith("-c ") and not via.startswith("-r "):
                cur[2].append(via.split(" ")[0].lower().replace("_", "-"))
        else:
            cur = None
            out.append(("", line, []))
    return out


def drop_torch_only(text: str) -> str:
    """Remove torch and every package required only by torch (or by packages removed so)."""
    blocks = _blocks(text)
    dropped = set(EXCLUDED)
    changed = True
    while changed:
        changed = False
        for name, _, via in blocks:
            if name and name not in dropped and via and set(via) <= dropped:
                dropped.add(name)
                changed = True
    kept = "".join(b for name, b, _ in blocks if not name or name not in dropped)
    note = ("# Not pinned here: torch (installed by the Makefile's TORCH_SPEC, a CPU or CUDA build) and the\n"
            f"# packages only torch needs: {', '.join(sorted(dropped - set(EXCLUDED)))}.\n")
    return kept.rstrip("\n") + "\n" + note


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extras", default="test,parquet,dask,models")
    ap.add_argument("--out", default=str(ROOT / "requirements.lock"))
    ap.add_argument("--upgrade", action="store_true", help="newest versions, not the current pins")
    ap.add_argument("--constraint", action="append", default=[], help="extra constraints (e.g. a pip freeze)")
    args = ap.parse_args(argv)
    cmd = [*_uv(), "pip", "compile", str(ROOT / "pyproject.toml"), "--python-version", PYTHON_VERSION,
           "--python-platform", PLATFORM, "--no-header", "-q"]
    for e in filter(None, (x.strip() for x in args.extras.split(","))):
        cmd += ["--extra", e]
    for c in args.constraint:
        cmd += ["-c", c]
    out = Path(args.out)
    if args.upgrade:
        cmd.append("--upgrade")
    elif out.is_file():
        # keep the current pins where they still satisfy pyproject.toml (uv prefers an existing output file)
        cmd += ["-o", str(out)]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        sys.stderr.write(res.stderr)
        return res.returncode
    text = out.read_text() if "-o" in cmd else res.stdout
    text = re.sub(r"(?m)^\s*#\s+-c .*\n", "", text)   # constraint-file annotations: machine-local paths
    header = (f"# requirements.lock: the exact versions xai-reports is tested with (CPython {PYTHON_VERSION}, "
              "Linux x86-64).\n"
              "# Used as constraints by `make install` and .ci/run: pip install -c requirements.lock -e '.[EXTRAS]'.\n"
              f"# Regenerate with `make lock` (`make lock UPGRADE=1` for the newest versions); extras: {args.extras}.\n"
              "# pyproject.toml keeps version ranges; tests/test_lock.py fails when the two disagree.\n")
    body = drop_torch_only("".join(line for line in text.splitlines(keepends=True)
                                   if not re.match(r"^# (requirements\.lock|Used as|Regenerate|pyproject|Not pinned|packages only)", line)))
    out.write_text(header + body)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
