"""The components import each other without circles: every import in generator/ is read from the source (a
function's own imports too, which hide a circle from Python but not from a reader), and neither the modules nor the
components (a folder under generator/components/, or a shared module beside them) may form a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

GENERATOR = REPO / "generator"
COMPONENTS = "generator.components"
# The registries list the components; a component may ask them (the catalog's services, the chapters' order)
# without depending on what they list.
REGISTRIES = {"generator.catalog", "generator.daemons"}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module → the generator modules it imports, anywhere in its source."""
    modules = {module_name(p): p for p in sorted(GENERATOR.rglob("*.py"))}

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets |= {known(f"{node.module}.{alias.name}") for alias in node.names}
            elif isinstance(node, ast.Import):
                targets |= {known(alias.name) for alias in node.names}
        graph[name] = {t for t in targets if t and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            part = []
            while True:
                member = stack.pop()
                part.append(member)
                if member == node:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def component(module: str) -> str:
    """generator.components.etcd.files → generator.components.etcd; a shared module stays itself."""
    parts = module.split(".")
    return ".".join(parts[:3]) if module.startswith(f"{COMPONENTS}.") else module


def test_no_module_cycle_reaches_a_component() -> None:
    graph = import_graph()
    assert any(t.startswith(COMPONENTS) for targets in graph.values() for t in targets)  # the walk sees imports
    involved = [c for c in cycles(graph) if any(m.startswith(COMPONENTS) or m in REGISTRIES for m in c)]
    assert involved == []


def test_no_component_depends_on_itself_through_others() -> None:
    graph = import_graph()
    components: dict[str, set[str]] = {}
    for module, targets in graph.items():
        if module.startswith(f"{COMPONENTS}."):
            components.setdefault(component(module), set()).update(
                component(t) for t in targets if t.startswith(f"{COMPONENTS}.") and component(t) != component(module))
    assert len(components) >= 14
    assert cycles(components) == []
    # a component reaches the others through the registries only where it needs them all
    assert {"generator.components.verification", "generator.components.rollout"} <= {
        component(m) for m, targets in graph.items() if m.startswith(COMPONENTS) and targets & REGISTRIES}


def test_the_walk_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
