"""requirements.lock (what `make install` installs) agrees with pyproject.toml (the ranges users get)."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ImportError:  # Python 3.10
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _lock() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if not line or line[0] in "# " or line.startswith("-"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)(\s*;.*)?", line.strip())
        assert m, f"requirements.lock: not an exact pin: {line!r}"
        pins[canonicalize_name(m.group(1))] = Version(m.group(2))
    return pins


def _makefile_var(name: str) -> str:
    m = re.search(rf"(?m)^{name}\s*\?=\s*(.+)$", (ROOT / "Makefile").read_text())
    assert m, f"Makefile sets no {name}"
    return m.group(1).strip()


def _installed_requirements() -> list[tuple[str, Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    out = [("dependencies", Requirement(r)) for r in project["dependencies"]]
    extras = [e.strip() for e in _makefile_var("EXTRAS").split(",") if e.strip()]
    for extra in extras:
        assert extra in project["optional-dependencies"], f"Makefile EXTRAS names unknown extra {extra!r}"
        out += [(f"[{extra}]", Requirement(r)) for r in project["optional-dependencies"][extra]]
    return out


def _problems(pins: dict[str, Version]) -> list[str]:
    problems = []
    for where, req in _installed_requirements():
        if req.marker is not None and not req.marker.evaluate():
            continue
        name = canonicalize_name(req.name)
        if name == "torch":
            continue  # installed by TORCH_SPEC: checked below
        if name not in pins:
            problems.append(f"{req} ({where}) is not in requirements.lock")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"requirements.lock pins {name}=={pins[name]}, outside {req} ({where})")
        for extra in req.extras:  # dask[distributed] -> distributed pinned too
            if extra == "distributed" and "distributed" not in pins:
                problems.append(f"{req} ({where}): distributed is not in requirements.lock")
    return problems


def test_every_requirement_make_install_installs_is_pinned_inside_its_range():
    problems = _problems(_lock())
    assert not problems, "run `make lock`:\n" + "\n".join(problems)


def test_torch_is_pinned_by_torch_spec_not_the_lock():
    assert "torch" not in _lock(), "torch is installed by TORCH_SPEC (CPU or CUDA build), not from the lock"
    spec = Requirement(_makefile_var("TORCH_SPEC"))
    pinned = next(iter(spec.specifier)).version
    ranges = [req for _, req in _installed_requirements() if canonicalize_name(req.name) == "torch"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    ranges += [Requirement(r) for r in project["optional-dependencies"].get("torch", [])]
    assert ranges, "pyproject.toml declares no torch range"
    for req in ranges:
        assert req.specifier.contains(pinned), f"TORCH_SPEC {spec} is outside pyproject's {req}"


def test_make_install_and_ci_use_the_lock():
    make = (ROOT / "Makefile").read_text()
    assert _makefile_var("LOCK") == "requirements.lock"
    assert re.search(r"pip install .*-c \$\(LOCK\)", make), "make install does not install with -c $(LOCK)"
    assert "test-latest:" in make and "lock:" in make
    assert "make install" in (ROOT / ".ci" / "run").read_text()


def test_a_lock_that_disagrees_is_caught():
    # the check itself fails on a lock that disagrees (not a test that cannot fail)
    pins = dict(_lock())
    pins["numpy"] = Version("1.23.5")     # below numpy>=1.24
    del pins["lightgbm"]                  # the models extra
    problems = _problems(pins)
    assert any("numpy==1.23.5, outside numpy>=1.24" in p for p in problems), problems
    assert any(p.startswith("lightgbm>=4.0") and "not in requirements.lock" in p for p in problems), problems
