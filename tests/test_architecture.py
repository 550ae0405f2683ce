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


# --- only the workflow writes ticket state and clocks ------------------------------------------

#: Where a write of a state or clock field is allowed outside the workflow: (file, function).
ALLOWED_WRITES = {
    # The model derives its summary of the running clocks from the clocks the workflow set.
    ("cases/models/tickets.py", "refresh_deadline_summary"),
}


def _guarded_field(name: str) -> bool:
    return name == "state" or name.endswith(("_due_at", "_warn_at"))


def state_writes(source: str) -> list[tuple[int, str, str]]:
    """``(line, function, field)`` for every assignment of ``x.state``/``x.*_due_at``/``x.*_warn_at``
    and every ``.update(state=…)``/``.update(…_due_at=…)`` call in ``source``."""
    hits = []

    def visit(node, function):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        flat = []
        while targets:
            target = targets.pop()
            if isinstance(target, ast.Tuple | ast.List):
                targets.extend(target.elts)
            elif isinstance(target, ast.Starred):
                targets.append(target.value)
            else:
                flat.append(target)
        hits.extend(
            (node.lineno, function, t.attr) for t in flat if isinstance(t, ast.Attribute) and _guarded_field(t.attr)
        )
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "update":
                hits.extend((node.lineno, function, k.arg) for k in node.keywords if k.arg and _guarded_field(k.arg))
            if isinstance(func, ast.Name) and func.id == "setattr" and len(node.args) >= 2:
                name = node.args[1]
                if isinstance(name, ast.Constant) and isinstance(name.value, str) and _guarded_field(name.value):
                    hits.append((node.lineno, function, name.value))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(ast.parse(source), "")
    return sorted(hits)


def test_nothing_but_the_workflow_assigns_ticket_state_or_clocks():
    """cases/tooling/ is scanned too: the load generator writes its synthetic history with
    COPY (raw rows, not attribute writes), and nothing else there may set a state."""
    offenders, allowed_seen = [], set()
    for path in _product_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("cases/workflow/"):
            continue
        for line, function, field in state_writes(path.read_text()):
            if (rel, function) in ALLOWED_WRITES:
                allowed_seen.add((rel, function))
            else:
                offenders.append(f"{rel}:{line} {function}() writes {field}")
    assert offenders == []
    assert allowed_seen == ALLOWED_WRITES  # no stale exception


def test_the_state_write_scanner_finds_every_form_of_write():
    snippet = (
        "def f(ticket, qs, a):\n"
        "    ticket.state = 'closed'\n"
        "    a.resolve_due_at, a.other = None, 1\n"
        "    qs.update(next_due_at=None, note='x')\n"
        "    Ticket.objects.filter(pk=1).update(state='closed')\n"
        "    setattr(ticket, 'sign_warn_at', None)\n"
        "    state = 'closed'  # a local name is no write\n"
        "    ticket.state == 'closed'\n"
    )
    assert state_writes(snippet) == [
        (2, "f", "state"),
        (3, "f", "resolve_due_at"),
        (4, "f", "next_due_at"),
        (5, "f", "state"),
        (6, "f", "sign_warn_at"),
    ]
