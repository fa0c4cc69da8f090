"""Mutation testing of the metrics and the tasks: would the tests notice a plausible wrong convention?

    python benchmarks/mutation.py [--files mtl_course/metrics/depth.py ...] [--list] [--only-survivors LOG]

Each mutant changes one thing in one file, the kind of slip that gives another convention or a bug:
a comparison's boundary (< vs <=, > vs >=), == vs !=, + vs -, * vs /, mean vs sum, min vs max,
argmin vs argmax, any vs all, and vs or, a dropped `not` / `~` / unary minus, an integer constant
+1, a float constant halved, True vs False. The unit tests that check these modules run against every
mutant (in a fork of this process, so torch is imported once); a mutant is killed when a test fails.
Prints the kill rate and every survivor, to be read: a survivor is a missing test or an equivalent
mutant (one that cannot change any result, e.g. `x > 0` vs `x >= 0` where x is never 0).
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted([*ROOT.glob("mtl_course/metrics/*.py"), *ROOT.glob("mtl_course/tasks/*.py")])
# the tests that check each file, fastest first (pytest -x stops at the first failure)
METRIC_TESTS = ["tests/test_conventions.py", "tests/test_metrics.py"]
TASK_TESTS = ["tests/test_conventions.py", "tests/test_tasks.py", "tests/test_metrics.py", "tests/test_bad_inputs.py"]


def tests_for(path: Path) -> list[str]:
    if path.name == "bsds.py":
        return ["tests/test_bsds.py"]
    return METRIC_TESTS if path.parent.name == "metrics" else TASK_TESTS

SWAP_COMPARE = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
                ast.NotEq: ast.Eq}
SWAP_BINOP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}
SWAP_METHOD = {"mean": "sum", "sum": "mean", "min": "max", "max": "min", "argmax": "argmin", "argmin": "argmax",
               "any": "all", "all": "any", "minimum": "maximum", "maximum": "minimum"}


def annotation_nodes(tree: ast.AST) -> set[int]:
    """ids of nodes inside type annotations and docstrings (not code that runs)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        parts = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            parts = [node.returns, *[a.annotation for a in [*node.args.args, *node.args.kwonlyargs]]]
        elif isinstance(node, ast.AnnAssign):
            parts = [node.annotation]
        for part in parts:
            if part is not None:
                skip.update(id(n) for n in ast.walk(part))
    return skip


def mutations(tree: ast.AST) -> list[tuple[int, str, object]]:
    """(node index in ast.walk order, description, how to mutate) for every mutant of one module."""
    skip = annotation_nodes(tree)
    found = []
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skip:
            continue
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in SWAP_COMPARE:
            new = SWAP_COMPARE[type(node.ops[0])]
            found.append((index, f"line {line}: {type(node.ops[0]).__name__} -> {new.__name__}", ("op", new)))
        elif isinstance(node, ast.BinOp) and type(node.op) in SWAP_BINOP:
            new = SWAP_BINOP[type(node.op)]
            found.append((index, f"line {line}: {type(node.op).__name__} -> {new.__name__}", ("binop", new)))
        elif isinstance(node, ast.Attribute) and node.attr in SWAP_METHOD:
            new_name = SWAP_METHOD[node.attr]
            found.append((index, f"line {line}: .{node.attr} -> .{new_name}", ("attr", new_name)))
        elif isinstance(node, ast.BoolOp):
            new = ast.Or if isinstance(node.op, ast.And) else ast.And
            found.append((index, f"line {line}: {type(node.op).__name__} -> {new.__name__}", ("boolop", new)))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.Invert, ast.USub)):
            found.append((index, f"line {line}: drop {type(node.op).__name__}", ("unary", None)))
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
            if isinstance(node.value, bool):
                found.append((index, f"line {line}: {node.value} -> {not node.value}", ("const", not node.value)))
            elif isinstance(node.value, int):
                found.append((index, f"line {line}: {node.value} -> {node.value + 1}", ("const", node.value + 1)))
            elif node.value != 0:                           # halving 0.0 would change nothing
                found.append((index, f"line {line}: {node.value} -> {node.value / 2}", ("const", node.value / 2)))
    return found


def mutate(tree: ast.AST, index: int, how: tuple[str, object]) -> str:
    tree = copy.deepcopy(tree)
    kind, value = how
    parents = {id(child): parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    node = list(ast.walk(tree))[index]
    if kind == "op":
        node.ops = [value()]
    elif kind in ("binop", "boolop"):
        node.op = value()
    elif kind == "attr":
        node.attr = value
    elif kind == "const":
        node.value = value
    elif kind == "unary":
        parent = parents[id(node)]
        for field, old in ast.iter_fields(parent):
            if old is node:
                setattr(parent, field, node.operand)
            elif isinstance(old, list):
                setattr(parent, field, [node.operand if item is node else item for item in old])
    return ast.unparse(ast.fix_missing_locations(tree))


def killed(path: Path, source: str, tests: list[str]) -> bool:
    """Run the tests against the mutated file in a forked child; True if any fails (or errors)."""
    original = path.read_text()
    path.write_text(source)
    try:
        pid = os.fork()
        if pid == 0:                                        # child: fresh mtl_course and test modules
            for name in [n for n in sys.modules if n.startswith(("mtl_course", "test_", "conftest", "submissions"))]:
                del sys.modules[name]
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            import pytest
            code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-W", "ignore", *tests])
            os._exit(int(code))
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status) != 0
    finally:
        path.write_text(original)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", nargs="*", type=Path, default=FILES)
    parser.add_argument("--list", action="store_true", help="only list the mutants")
    parser.add_argument("--only-survivors", type=Path, default=None,
                        help="the output of an earlier run: test again only the mutants it lists as survivors")
    args = parser.parse_args()
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT / "tests"))
    import torch  # noqa: F401  (imported once, before the forks)
    earlier = None
    if args.only_survivors:
        earlier = {line.removeprefix("survived: ").strip() for line in args.only_survivors.read_text().splitlines()
                   if line.startswith("survived: ")}
    total, dead, survivors = 0, 0, []
    start = time.perf_counter()
    for path in args.files:
        path = path.resolve()
        tree = ast.parse(path.read_text())
        for index, description, how in mutations(tree):
            if earlier is not None and f"{path.relative_to(ROOT)} {description}" not in earlier:
                continue
            total += 1
            if args.list:
                print(f"{path.relative_to(ROOT)} {description}")
                continue
            if killed(path, mutate(tree, index, how), tests_for(path)):
                dead += 1
            else:
                survivors.append(f"{path.relative_to(ROOT)} {description}")
                print(f"survived: {survivors[-1]}", flush=True)
    if not args.list:
        print(f"\n{dead} of {total} mutants killed ({100 * dead / max(total, 1):.1f} %) in "
              f"{time.perf_counter() - start:.0f} s; {len(survivors)} survived")


if __name__ == "__main__":
    main()
