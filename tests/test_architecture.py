"""Architecture guards of issue 19 (item 4, module hygiene), by static analysis of ``xai_reports/``.

* no import circles between the package's modules (module-level and function-level
  imports, relative and absolute; ``if TYPE_CHECKING:`` blocks do not count);
* no module over :data:`MAX_LINES` lines;
* ``__all__`` of the package and of its public sub-packages pinned by equality;
* every exception class lives in ``xai_reports/errors.py``, derives from
  ``XaiReportsError``, is exported there and at the top level, and sits in the tree
  drawn in that module's docstring; warning classes may live beside the code that
  warns, but are drawn in that docstring too and exported by their sub-package.

Each check names every offender in its failure message.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import re
import sys
from collections import defaultdict, deque
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG_DIR = ROOT / "xai_reports"
PKG = "xai_reports"
MAX_LINES = 600

# -- the expected public API (the target of issue 19; update deliberately) ---------------------------

EXPECTED_TOP_LEVEL_ALL = [
    "__version__",
    "wrap_model", "load_model", "ModelAdapter",
    "explain", "Attribution", "metrics",
    "global_importance", "GlobalImportance", "surrogate", "SurrogateTree",
    "load_pack",
    "generate_letters", "regenerate",
    "counterfactuals", "CounterfactualResult",
    "verify", "RunManifest",
    "audit", "AuditReport",
    "generate_incident_report",
    "XaiReportsError", "InputError", "PackError", "KeyedError", "ModelLoadError", "UnsafeModelError",
    "ExplanationError", "ModelCallError", "RenderError", "TemplateError", "ConstraintViolation",
    "PrivacyError", "IntegrityError", "SchedulerError", "BatchStateError",
]

EXPECTED_SUBPACKAGE_ALL = {
    "errors": [
        "XaiReportsError", "InputError", "PackError", "KeyedError", "ModelLoadError", "UnsafeModelError",
        "ExplanationError", "ModelCallError", "RenderError", "TemplateError", "ConstraintViolation",
        "PrivacyError", "IntegrityError", "SchedulerError", "BatchStateError",
    ],
    "adapters": ["ModelAdapter", "wrap_model", "load_model"],
    "attribution": ["Attribution", "Explainer", "METHODS", "explain", "available_methods", "get_explainer_class",
                    "register_method"],
    "counterfactuals": ["counterfactuals", "CounterfactualResult", "Constraints", "FeatureRule", "SearchConfig",
                        "DICT_KEYS", "STRATEGIES"],
    "metrics": ["deletion", "insertion", "infidelity", "CurveResult", "max_sensitivity", "explanation_func",
                "pointing_game", "relevance_mass", "relevance_rank_accuracy", "region_masks"],
    "packs": ["load_pack", "load_recorded_pack", "LoadedPack", "Pack", "FeatureSpec", "ReasonSpec"],
    "documents": ["DocumentKind", "register_kind", "get_kind", "registered_kinds", "kind_of_record"],
    "integrity": ["RunManifest", "signing_key", "sign", "key_id", "verify", "VerifyReport", "Finding", "MANIFEST_NAME",
                  "STEM_MANIFEST_SUFFIX", "write_document_manifest", "MANIFEST_SCHEMA", "RECORD_NAME", "KEY_ENV",
                  "KEY_FILE_ENV", "MIN_KEY_BYTES", "embedded_record", "sha256_bytes", "sha256_file", "IntegrityError"],
    "batch": ["BatchJob", "BatchResult", "ChunkPlan", "Doc", "RunSummary", "run_batch", "resolve_workers",
              "TableSource", "Journal", "BatchStateError", "SchedulerError", "InlineExecutor", "PoolExecutor",
              "DaskExecutor", "usable_cpus"],
    "render": ["check_recorded_template", "render_record_files", "environment", "render_template",
               "template_fingerprint", "long_date", "html_to_pdf", "safe_fetcher", "font_subsetter",
               "FontSubsetterWarning", "template_search_path", "TemplateSearchPath", "localized_template",
               "DEFAULT_VARIANT", "external_resources", "accessibility_problems", "png_bytes", "png_data_uri",
               "Renderer", "WeasyPrintRenderer", "MockRenderer", "use_renderer", "get_renderer", "renderer_software",
               "is_mock_pdf"],
}

#: Exception classes allowed outside errors.py: private signals that are caught inside the package
#: and never reach a caller, each with the reason. Keep it empty unless such a class cannot live in
#: errors.py; the test checks that every entry still exists and is private.
INTERNAL_EXCEPTIONS: dict[str, str] = {
    "xai_reports.attribution.checks._Injected":
        "check_explainer raises it inside a model's forward pass to test that hooks are released; "
        "the check catches it",
}


# -- static view of the package -------------------------------------------------------------------------

def _modules() -> dict[str, tuple[Path, bool]]:
    """``{module name: (path, is_package)}`` for every ``.py`` file under ``xai_reports/``."""
    out = {}
    for path in sorted(PKG_DIR.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_pkg)
    return out


MODULES = _modules()
_TREES: dict[str, ast.Module] = {}


def _tree(name: str) -> ast.Module:
    if name not in _TREES:
        path = MODULES[name][0]
        _TREES[name] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return _TREES[name]


def _is_type_checking(test: ast.expr) -> bool:
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _nearest_module(dotted: str) -> str | None:
    """``dotted`` if it is a module of the package, else its nearest ancestor that is (or None)."""
    parts = dotted.split(".")
    while parts:
        name = ".".join(parts)
        if name in MODULES:
            return name
        parts.pop()
    return None


class _ImportCollector(ast.NodeVisitor):
    """Every import of a module of the package: ``(target, line, enclosing function or None)``."""

    def __init__(self, module: str, is_pkg: bool):
        self.module = module
        self.package = module if is_pkg else module.rpartition(".")[0]
        self.scope: list[str] = []
        self.found: list[tuple[str, int, str | None]] = []

    def _add(self, target: str | None, node: ast.AST):
        if target is not None and target != self.module:
            self.found.append((target, node.lineno, ".".join(self.scope) or None))

    def visit_If(self, node: ast.If):
        if _is_type_checking(node.test):
            for child in node.orelse:          # only the 'else' of 'if TYPE_CHECKING:' runs
                self.visit(child)
            return
        self.generic_visit(node)

    def _scoped(self, node):
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

    def visit_Import(self, node: ast.Import):
        for alias in node.names:
            if alias.name == PKG or alias.name.startswith(PKG + "."):
                self._add(_nearest_module(alias.name), node)

    def visit_ImportFrom(self, node: ast.ImportFrom):
        if node.level:
            base = self.package.split(".")
            if node.level > 1:
                base = base[:-(node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        if not (source == PKG or source.startswith(PKG + ".")):
            return
        for alias in node.names:
            sub = f"{source}.{alias.name}"
            self._add(sub if sub in MODULES else _nearest_module(source), node)


def import_graph() -> dict[str, dict[str, list[tuple[int, str | None]]]]:
    """``{module: {imported module: [(line, function or None), ...]}}`` over the package."""
    graph: dict[str, dict[str, list]] = {}
    for name, (_, is_pkg) in MODULES.items():
        collector = _ImportCollector(name, is_pkg)
        collector.visit(_tree(name))
        edges: dict[str, list] = defaultdict(list)
        for target, line, func in collector.found:
            edges[target].append((line, func))
        graph[name] = dict(edges)
    return graph


def _strongly_connected(graph) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, {})):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for v in sorted(graph):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return sorted(out)


def _shortest_cycle(graph, comp: list[str]) -> list[str]:
    """A shortest cycle through the first module of ``comp``, staying inside ``comp``."""
    start = comp[0]
    members = set(comp)
    prev = {start: None}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(graph.get(v, {})):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w in members and w not in prev:
                prev[w] = v
                queue.append(w)
    return comp


def _edge_text(graph, a: str, b: str) -> str:
    where = ", ".join(f"line {line}" + (f" in {func}()" if func else "") for line, func in sorted(set(graph[a][b])))
    return f"{a} -> {b} ({where})"


def test_no_import_cycles():
    """No two modules of xai_reports import each other, directly or through others (function-level
    imports count; only ``if TYPE_CHECKING:`` blocks are left out)."""
    graph = import_graph()
    comps = _strongly_connected(graph)
    lines = []
    for comp in comps:
        cycle = _shortest_cycle(graph, comp)
        lines.append(f"\n* {len(comp)} modules in a circle: {', '.join(comp)}\n  e.g. "
                     + "\n       ".join(_edge_text(graph, a, b) for a, b in zip(cycle, cycle[1:])))
    assert not comps, f"{len(comps)} import circle(s) in xai_reports:" + "".join(lines)


def test_the_import_graph_sees_relative_function_level_and_submodule_imports():
    """The cycle check can fail: it resolves the import forms it claims to (guards the guard)."""
    graph = import_graph()
    # ``from ..errors import InputError`` (relative, module level)
    assert "xai_reports.errors" in graph["xai_reports.counterfactuals.constraints"]
    # ``from . import metrics`` in the package resolves to the sub-package, not to the package itself
    assert "xai_reports.metrics" in graph["xai_reports"]
    # a function-level import is an edge, and says where it is
    assert any(func for targets in graph.values() for sites in targets.values() for _, func in sites)
    comps = _strongly_connected({"a": {"b": [(1, None)]}, "b": {"c": [(2, "f")]}, "c": {"a": [(3, None)]},
                                 "d": {"a": [(4, None)]}})
    assert comps == [["a", "b", "c"]]


def test_no_module_over_the_line_limit():
    """No module of xai_reports is longer than MAX_LINES lines."""
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, (path, _) in MODULES.items()}
    over = sorted(((n, s) for n, s in sizes.items() if s > MAX_LINES), key=lambda t: -t[1])
    assert not over, (f"{len(over)} module(s) over {MAX_LINES} lines (split them):\n"
                      + "\n".join(f"  {MODULES[n][0].relative_to(ROOT)}: {s} lines" for n, s in over))


# -- __all__ --------------------------------------------------------------------------------------------

def _check_all(module_name: str, expected: list[str]):
    module = importlib.import_module(module_name)
    actual = getattr(module, "__all__", None)
    assert actual is not None, f"{module_name} has no __all__; expected {expected}"
    dupes = sorted({n for n in actual if list(actual).count(n) > 1})
    assert not dupes, f"{module_name}.__all__ lists {dupes} more than once"
    missing = [n for n in expected if n not in actual]
    extra = [n for n in actual if n not in expected]
    assert not missing and not extra, (
        f"{module_name}.__all__ differs from the pinned list in tests/test_architecture.py: "
        f"missing {missing}, not pinned {extra} (change the public API deliberately: update both)")
    absent = [n for n in actual if not hasattr(module, n)]
    assert not absent, f"{module_name}.__all__ names {absent}, which the module does not define"


def test_top_level_all_is_pinned():
    """``xai_reports.__all__`` is exactly the pinned list, and every name in it is importable."""
    _check_all(PKG, EXPECTED_TOP_LEVEL_ALL)


@pytest.mark.parametrize("sub", sorted(EXPECTED_SUBPACKAGE_ALL))
def test_subpackage_all_is_pinned(sub):
    """The ``__all__`` of each public sub-package is exactly its pinned list, every name importable."""
    _check_all(f"{PKG}.{sub}", EXPECTED_SUBPACKAGE_ALL[sub])


# -- exceptions and warnings ----------------------------------------------------------------------------

_BUILTIN_EXC = {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}
_BUILTIN_WARN = {n for n in _BUILTIN_EXC if issubclass(getattr(builtins, n), Warning)}


def _base_name(expr: ast.expr) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return None


def exception_classes() -> dict[str, dict]:
    """Every class under xai_reports that derives from an exception, found statically.

    ``{"module.Class": {"module", "name", "line", "bases", "warning"}}``. A class is an
    exception when one of its bases is a built-in exception, a class of the package already
    found to be one, or a third-party class named ``...Error``/``...Exception``/``...Warning``.
    """
    classes = []
    for name in MODULES:
        for node in ast.walk(_tree(name)):
            if isinstance(node, ast.ClassDef):
                bases = [b for b in (_base_name(e) for e in node.bases) if b]
                classes.append((name, node.name, node.lineno, bases))
    local = {cls for _, cls, _, _ in classes}
    exc, warn = set(_BUILTIN_EXC), set(_BUILTIN_WARN)
    changed = True
    while changed:
        changed = False
        for _, cls, _, bases in classes:
            third_party = [b for b in bases if b not in local and b.endswith(("Error", "Exception", "Warning"))]
            if cls not in exc and (any(b in exc for b in bases) or third_party):
                exc.add(cls)
                changed = True
            if cls not in warn and (any(b in warn for b in bases)
                                    or any(b.endswith("Warning") for b in third_party)):
                warn.add(cls)
                changed = True
    return {f"{mod}.{cls}": {"module": mod, "name": cls, "line": line, "bases": bases, "warning": cls in warn}
            for mod, cls, line, bases in classes if cls in exc}


def _errors_tree() -> dict[str, str | None]:
    """The tree drawn in the errors module docstring: ``{class name: parent name (None for a root)}``."""
    import xai_reports.errors as errors

    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []          # (column, name) of the open branches
    for line in (errors.__doc__ or "").splitlines():
        m = re.search(r"[├└]──\s*(\w+)", line)
        if m:
            col, name = m.start(), m.group(1)
        else:
            m = re.fullmatch(r"(\s*)(\w+(?:Error|Exception|Warning))\s*", line)
            if not m:
                continue
            col, name = -1, m.group(2)
            stack = []
        while stack and stack[-1][0] >= col:
            stack.pop()
        parents[name] = stack[-1][1] if stack else None
        stack.append((col, name))
    return parents


def _errors_and_warnings():
    found = exception_classes()
    errors = {k: v for k, v in found.items() if not v["warning"] and k not in INTERNAL_EXCEPTIONS}
    warnings_ = {k: v for k, v in found.items() if v["warning"]}
    return errors, warnings_


def test_the_exception_scan_finds_what_it_should():
    """The static scan sees the errors module's classes and the warning classes (guards the guard)."""
    found = exception_classes()
    assert "xai_reports.errors.XaiReportsError" in found
    assert "xai_reports.errors.TemplateError" in found            # through RenderError
    assert not found["xai_reports.errors.TemplateError"]["warning"]
    warns = [k for k, v in found.items() if v["warning"]]
    assert warns, "no warning class found; FontSubsetterWarning (render.pdf) at least should be"
    tree = _errors_tree()
    assert tree.get("XaiReportsError", "absent") is None and tree.get("TemplateError") == "RenderError"


def test_internal_exceptions_are_still_internal():
    """The exceptions allowed outside errors.py still exist and are still private (a leading underscore)."""
    found = exception_classes()
    stale = [k for k in INTERNAL_EXCEPTIONS if k not in found]
    public = [k for k in INTERNAL_EXCEPTIONS if not k.rpartition(".")[2].startswith("_")]
    assert not stale, f"INTERNAL_EXCEPTIONS names classes that no longer exist: {stale}"
    assert not public, f"INTERNAL_EXCEPTIONS may only hold private classes: {public}"


def test_every_exception_class_is_defined_in_errors():
    """Every exception class of xai_reports is defined in xai_reports/errors.py (others import it)."""
    errors, _ = _errors_and_warnings()
    outside = sorted(f"{v['module']}.{v['name']} (line {v['line']})" for v in errors.values()
                     if v["module"] != f"{PKG}.errors")
    assert not outside, ("exception classes defined outside xai_reports/errors.py (move them there and "
                         "import them from it):\n  " + "\n  ".join(outside))


def test_every_exception_class_derives_from_the_base():
    """Every exception class of xai_reports.errors derives from XaiReportsError."""
    import xai_reports.errors as errors_module

    errors, _ = _errors_and_warnings()
    not_derived = []
    for key, v in sorted(errors.items()):
        if v["module"] != errors_module.__name__:
            continue
        cls = getattr(errors_module, v["name"])
        if not issubclass(cls, errors_module.XaiReportsError):
            not_derived.append(v["name"])
    assert not not_derived, f"exception classes not deriving from XaiReportsError: {not_derived}"


def test_every_exception_class_is_exported():
    """Every exception class is in ``xai_reports.errors.__all__`` and in ``xai_reports.__all__``."""
    import xai_reports
    import xai_reports.errors as errors_module

    errors, _ = _errors_and_warnings()
    names = sorted(v["name"] for v in errors.values())
    not_in_errors = [n for n in names if n not in errors_module.__all__]
    not_top = [n for n in names if n not in xai_reports.__all__]
    assert not not_in_errors and not not_top, (
        f"exception classes missing from xai_reports.errors.__all__: {not_in_errors}; "
        f"missing from xai_reports.__all__: {not_top}")


def test_every_exception_class_is_in_the_documented_tree():
    """Every exception class sits in the tree drawn in the errors docstring, under one of its bases."""
    errors, _ = _errors_and_warnings()
    tree = _errors_tree()
    absent, misplaced = [], []
    for v in sorted(errors.values(), key=lambda v: v["name"]):
        name = v["name"]
        if name not in tree:
            absent.append(name)
        elif tree[name] is not None and tree[name] not in v["bases"]:
            misplaced.append(f"{name} drawn under {tree[name]}, derives from {v['bases']}")
    assert not absent and not misplaced, (
        f"the tree in the xai_reports.errors docstring lacks {absent}; misplaced: {misplaced}")


def test_every_warning_class_is_documented_and_exported():
    """Warning classes may live beside the code that warns, but each is drawn in the errors docstring
    (under its base) and exported by the ``__all__`` of its top sub-package (users filter them by class)."""
    _, warnings_ = _errors_and_warnings()
    tree = _errors_tree()
    problems = []
    for v in sorted(warnings_.values(), key=lambda v: v["name"]):
        name = v["name"]
        if name not in tree:
            problems.append(f"{name} ({v['module']}) is not drawn in the xai_reports.errors docstring")
        elif tree[name] is not None and tree[name] not in v["bases"]:
            problems.append(f"{name} drawn under {tree[name]}, derives from {v['bases']}")
        top = ".".join(v["module"].split(".")[:2])
        exported = getattr(importlib.import_module(top), "__all__", [])
        if name not in exported:
            problems.append(f"{name} is not in {top}.__all__")
    assert not problems, "warning classes:\n  " + "\n  ".join(problems)
