"""Executable architecture: the import graph has no cycle, and only the workflow writes ticket state.

import-linter (``make lint``) checks the layer contracts on module-level imports; these tests
also count the imports inside functions, which import-linter sees too but cycles through
which it does not report as such.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("cases", "departments", "reports", "config")


# --- the import graph -------------------------------------------------------------------------


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _product_files():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            yield path


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node, at any depth, except those under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_edges(source: str, *, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The project modules ``module`` imports, at any depth; ``from pkg import sub`` counts as
    importing ``pkg.sub``, ``from pkg import name`` as importing ``pkg`` (its ``__init__``)."""
    targets = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in _imports(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            if node.level:
                base_parts = package.split(".")
                if node.level > 1:
                    base_parts = base_parts[: -(node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module
            # ``from pkg import sub`` imports the module ``pkg.sub``; ``from pkg import name`` imports ``pkg``
            # (a parent package is always imported first, so it is no edge of its own).
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        for name in names:
            # The deepest project module the name designates (an attribute import resolves to its module).
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
    return targets


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(path): path for path in _product_files()}
    known = set(files)
    return {
        module: import_edges(path.read_text(), module=module, is_package=path.name == "__init__.py", known=known)
        for module, path in files.items()
    }


def strongly_connected_components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; returns the components with more than one module."""
    index, lowlink, on_stack, stack, result = {}, {}, set(), [], []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = lowlink[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = lowlink[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    lowlink[node] = min(lowlink[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    lowlink[parent] = min(lowlink[parent], lowlink[node])
                if lowlink[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        result.append(sorted(component))
    return result


def _describe(component: list[str], graph: dict[str, set[str]]) -> str:
    members = set(component)
    edges = [f"  {a} -> {b}" for a in component for b in sorted(graph[a] & members)]
    return "\n".join([", ".join(component), *edges])


def test_the_import_graph_has_no_cycle_counting_imports_inside_functions():
    graph = import_graph()
    assert "cases.workflow.verbs" in graph  # the scan found the product
    cycles = strongly_connected_components(graph)
    assert not cycles, "import cycles:\n" + "\n\n".join(_describe(c, graph) for c in cycles)


def test_the_cycle_finder_sees_a_cycle_through_a_function_level_import():
    known = {"pkg", "pkg.a", "pkg.b", "pkg.c"}
    graph = {
        "pkg.a": import_edges("from pkg import b, VALUE\n", module="pkg.a", is_package=False, known=known),
        "pkg.b": import_edges("def f():\n    from .c import thing\n", module="pkg.b", is_package=False, known=known),
        "pkg.c": import_edges(
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import x\n"
            "def g():\n    import pkg.a\n",
            module="pkg.c",
            is_package=False,
            known=known,
        ),
        "pkg": set(),
    }
    assert graph["pkg.a"] == {"pkg", "pkg.b"}
    assert graph["pkg.b"] == {"pkg.c"}
    assert graph["pkg.c"] == {"pkg.a"}  # the TYPE_CHECKING import is not an edge
    assert strongly_connected_components(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
