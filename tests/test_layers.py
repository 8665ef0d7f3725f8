"""The project's own imports run one way (issue 15): no import loops, none dodged by importing inside a function.

The graph is read with ``ast``, not by importing: every ``import assistant…`` / ``from assistant… import …``
anywhere in a module of the ``assistant`` package (module level, inside functions and classes, under ``if``
and ``try``) is an edge from that module to the project module it names; ``from assistant.x import y``
points at ``assistant.x.y`` when that is a module, else at ``assistant.x``. Third-party imports are not edges.

``if TYPE_CHECKING:`` imports count as edges too. They do not execute, so they cannot make a loop at run
time, but a type-only import of a module above is still a dependency that runs the wrong way, and counting
them keeps the rule simple: a loop hidden behind TYPE_CHECKING is a loop. They are not "imports inside a
function" (they are at module level).

Two checks on the graph:
- modules: no cycle among the project's modules;
- packages: within each package, each subpackage counted as one node (``assistant.ingest.*`` →
  ``assistant.ingest``), no cycle among a package's direct children — so ``assistant.ingest`` cannot import a
  module that imports ``assistant.ingest`` even through different modules.
Parent packages are not edges: Python runs a package's ``__init__`` before its submodules, so a submodule
"importing" its own package is no loop.

And no module imports a project module inside a function (or lambda) — the usual way to dodge a loop. Lazy
imports of heavy third-party libraries (gradio, langchain_chroma, cn2an, docx …) are fine and not checked.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "assistant"

#: (importing module, imported module) → why this import sits inside a function. None of them dodges a loop
#: (test_the_exceptions_dodge_no_loop): each defers the third-party libraries behind a project module to the
#: command or action that uses them — a lazy import of a heavy third-party library, one module removed.
#: Figures: seconds of import on this project's 2-core test machine, on top of what the importer already loads.
_LOADERS = "docx, pypdf, bs4, charset_normalizer, filetype (~0.8 s)"
FUNCTION_IMPORT_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("assistant.cli", "assistant.engine"): "Chroma, langchain, the embedding model (~3 s) only for commands that "
    "open the index, not for --help or a bad argument",
    ("assistant.cli", "assistant.ui"): "gradio (seconds) only for `assistant serve`",
    ("assistant.cli", "assistant.evaluate"): f"`assistant eval` only; evaluate reads documents with the loaders ({_LOADERS})",
    ("assistant.cli", "assistant.checker"): "`assistant check` only (~0.45 s with review)",
    ("assistant.cli", "assistant.review"): f"`assistant check` only: python-docx and the loaders ({_LOADERS})",
    ("assistant.cli", "assistant.ingest.loaders"): f"`assistant check FILE` only: {_LOADERS}",
    ("assistant.engine", "assistant.ingest.pipeline"): f"only when the engine ingests: {_LOADERS} and tqdm would "
    "otherwise load with every `assistant ask` and the web app's engine",
    ("assistant.ui.state", "assistant.engine"): "the web page is served at once and says 'loading' while a "
    "background thread imports Chroma, langchain and the model and opens the index",
    ("assistant.ui.state", "assistant.ingest.pipeline"): f"only when a file is uploaded: {_LOADERS}, not at the "
    "web server's start",
}


def _modules() -> dict[str, Path]:
    """Dotted name → file, for every module of the package (a package is its ``__init__``)."""
    out = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """(imported project module, line, inside a function) for every project import in the module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[str, int, bool]] = []

    def target(dotted: str) -> str | None:
        while dotted and dotted not in modules:  # `import assistant.x.y` where y is a name, not a module
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                        if t := target(alias.name):
                            found.append((t, child.lineno, in_function))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative: resolve against this module's package
                    here = name if _is_package(name, modules) else name.rpartition(".")[0]
                    for _ in range(child.level - 1):
                        here = here.rpartition(".")[0]
                    base = f"{here}.{base}" if base else here
                if base == PACKAGE or base.startswith(PACKAGE + "."):
                    for alias in child.names:
                        sub = f"{base}.{alias.name}"
                        t = sub if sub in modules else target(base)
                        if t:
                            found.append((t, child.lineno, in_function))
            visit(child, inside)

    visit(tree, False)
    return found


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, str, int]]]:
    modules = _modules()
    edges: dict[str, set[str]] = {m: set() for m in modules}
    in_functions = []
    for name, path in modules.items():
        for target, line, in_function in _imports(name, path, modules):
            if name == target or name.startswith(target + "."):  # own package: runs first, no loop
                continue
            edges[name].add(target)
            if in_function and (name, target, line) not in in_functions:
                in_functions.append((name, target, line))
    return edges, in_functions


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, …, a], or None (depth-first search, nodes in sorted order for a stable report)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := dfs(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := dfs(node)):
            return found
    return None


def _collapsed(edges: dict[str, set[str]], package: str, modules: dict[str, Path]) -> dict[str, set[str]]:
    """The graph among ``package``'s direct children, each subpackage standing for all its modules."""

    def child(name: str) -> str | None:
        if not name.startswith(package + "."):
            return None
        return package + "." + name[len(package) + 1 :].split(".")[0]

    out: dict[str, set[str]] = {}
    for src, targets in edges.items():
        a = child(src)
        if a is None:
            continue
        out.setdefault(a, set())
        for t in targets:
            b = child(t)
            if b is not None and b != a:
                out[a].add(b)
    return out


def test_the_graph_sees_the_known_imports():
    """The reader finds plain, from-, package-level and function-level imports (or the checks below prove nothing)."""
    edges, in_functions = _graph()
    assert "assistant.store" in edges["assistant.keyword_index"]
    assert "assistant.index_lock" in edges["assistant.ingest.pipeline"]
    assert "assistant.ingest.chunkers" in edges["assistant.ingest.pipeline"]
    assert "assistant.ui" in edges["assistant.cli"]  # `from assistant.ui import serve`, inside a function
    assert ("assistant.cli", "assistant.ui") in {(a, b) for a, b, _ in in_functions}
    assert "assistant.checker" in edges["assistant.review"]  # `from assistant import checker`


def test_no_import_cycle_between_modules():
    edges, _ = _graph()
    cycle = _cycle(edges)
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_no_import_cycle_between_packages():
    edges, _ = _graph()
    modules = _modules()
    for package in [m for m in modules if _is_package(m, modules)]:
        cycle = _cycle(_collapsed(edges, package, modules))
        assert cycle is None, f"import cycle among the parts of {package}: " + " → ".join(cycle)


def test_the_index_layer_does_not_import_ingestion_or_anything_above():
    edges, _ = _graph()
    index_layer = {"assistant.store", "assistant.keyword_index", "assistant.index_lock"}
    above = ("assistant.ingest", "assistant.retrieval", "assistant.answer", "assistant.compose", "assistant.engine",
             "assistant.cli", "assistant.ui", "assistant.evaluate", "assistant.review", "assistant.checker")
    for module in index_layer:
        wrong = sorted(t for t in edges[module] if t.startswith(above))
        assert not wrong, f"{module} imports {wrong}, which sit above the index layer"


def test_no_project_import_inside_a_function():
    _, in_functions = _graph()
    hidden = [f"{a} imports {b} inside a function (line {line})" for a, b, line in in_functions
              if (a, b) not in FUNCTION_IMPORT_EXCEPTIONS]
    assert not hidden, "\n".join(hidden)


def test_the_exceptions_dodge_no_loop():
    """Were every excepted import at module level, there would still be no loop."""
    edges, _ = _graph()
    cycle = _cycle(edges)  # function-level imports are already edges of the graph
    assert cycle is None
    for importer, imported in FUNCTION_IMPORT_EXCEPTIONS:
        assert importer not in _reachable(edges, imported), f"{imported} reaches {importer}: a loop"


def _reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo += edges.get(node, ())
    return seen


def test_every_exception_is_still_needed():
    _, in_functions = _graph()
    used = {(a, b) for a, b, _ in in_functions}
    stale = sorted(set(FUNCTION_IMPORT_EXCEPTIONS) - used)
    assert not stale, f"exceptions no longer used, remove them: {stale}"
