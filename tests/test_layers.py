"""The library reads in the course's order: no import loops, no import against the layer order.

The import graph is built from the source with `ast` (imports inside functions and under `if TYPE_CHECKING`
included), so a loop hidden in a function body is found too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mtl_course"

# the course's order: a module may import only from its own level or below
LEVELS = {
    "mtl_course": 0, "device": 0, "_io": 0, "metrics": 0, "weighting": 0,
    "tasks": 1, "data": 1,
    "models": 2,
    "train": 3,
    "transfer": 4, "viz": 4, "export": 4, "compress": 4,
    "lessons": 5, "grading": 5,
    "__main__": 6,
}
# imports allowed inside a function (none today: nbformat and nbclient became dependencies of the course)
LAZY: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def level(module: str) -> int:
    parts = module.split(".")
    return LEVELS[parts[1]] if len(parts) > 1 else LEVELS["mtl_course"]


def imports(path: Path) -> list[tuple[str, bool, int]]:
    """(imported mtl_course module, inside a function?, line) for every import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((alias.name, inside, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - child.level + 1] + [base]).rstrip(".")
                for alias in child.names:     # `from pkg import sub` imports the sub-module when there is one
                    sub = f"{base}.{alias.name}"
                    found.append((sub if (PACKAGE.parent / (sub.replace(".", "/") + ".py")).is_file()
                                  or (PACKAGE.parent / sub.replace(".", "/")).is_dir() else base, inside, child.lineno))
            visit(child, inside)

    visit(tree, False)
    return [(name, inside, line) for name, inside, line in found if name.split(".")[0] == "mtl_course"]


def graph() -> dict[str, list[tuple[str, bool, int]]]:
    return {module_name(path): imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_has_a_level():
    unknown = sorted({m.split(".")[1] for m in graph() if "." in m} - set(LEVELS))
    assert not unknown, f"add these sub-packages to LEVELS (and to the README's table): {unknown}"


def test_no_import_against_the_layer_order():
    wrong = [f"{importer} (level {level(importer)}) imports {name} (level {level(name)}) at line {line}"
             for importer, edges in graph().items() for name, _, line in edges
             if name != "mtl_course" and level(name) > level(importer)]
    assert not wrong, "\n".join(wrong)


def test_no_import_loops():
    modules = graph()                                  # parsed once (in the comprehension: once per import, ~150 s)
    edges = {m: {name for name, _, _ in found if name in modules} for m, found in modules.items()}
    state: dict[str, str] = {}

    def cycle_from(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state:
                found = cycle_from(nxt, path + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(edges):
        if start not in state:
            loop = cycle_from(start, [start])
            assert loop is None, " -> ".join(loop)


def test_imports_inside_functions_only_keep_optional_dependencies_lazy():
    inside = [(importer, name, line) for importer, found in graph().items() for name, in_function, line in found
              if in_function and (importer, name) not in LAZY]
    assert not inside, f"move these imports to the top of their module: {inside}"


def test_the_checker_sees_a_loop_hidden_in_a_function(tmp_path, monkeypatch):
    """The graph builder itself: an import inside a function is an edge, with its line."""
    fake = tmp_path / "mtl_course"
    (fake / "models").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "models" / "__init__.py").write_text("")
    (fake / "models" / "build.py").write_text("def f():\n    from mtl_course.train import fit\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert imports(fake / "models" / "build.py") == [("mtl_course.train", True, 2)]


@pytest.mark.parametrize("name", ["mtl_course.models", "mtl_course.train", "mtl_course.transfer",
                                  "mtl_course.lessons", "mtl_course.grading", "mtl_course.viz"])
def test_each_layer_imports_on_its_own(name):
    """Import each sub-package in a fresh interpreter: no hidden dependence on import order."""
    result = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
