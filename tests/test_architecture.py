"""The layer rule and the no-circle rule of docs/ARCHITECTURE.md, checked on the source's own imports."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PURE = ("pharmacology", "dosing", "screening", "monitoring", "outcomes", "scheduling", "interop", "ledger")
IMPURE = ("store", "services", "web", "reports", "cli")


def _module_name(path: Path) -> str:
    parts = path.with_suffix("").relative_to(SRC).parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in (SRC / "ketaclinic").rglob("*.py") if "migrations" not in p.parts}


def _under_type_checking(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


@cache
def _imports() -> dict[str, frozenset[str]]:
    """Each module's ketaclinic imports (at any depth, TYPE_CHECKING blocks aside) resolved to modules."""
    modules = _modules()
    graph: dict[str, frozenset[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
        targets: set[str] = set()
        for node in ast.walk(tree):
            if _under_type_checking(node, parents):
                continue
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    targets.add(submodule if submodule in modules else node.module)
        graph[name] = frozenset(t for t in targets if t in modules and t != name)
    return graph


def _cycles(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_anywhere_in_src() -> None:
    assert _cycles(_imports()) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    graph = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset({"a"})}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_pure_packages_import_no_store_services_web_reports_or_cli() -> None:
    forbidden = tuple(f"ketaclinic.{layer}" for layer in IMPURE)
    offending = {
        module: sorted(t for t in targets if t.startswith(forbidden))
        for module, targets in _imports().items()
        if module.startswith(tuple(f"ketaclinic.{p}" for p in PURE))
    }
    assert {m: t for m, t in offending.items() if t} == {}


def test_web_and_cli_open_no_transaction_and_hold_no_sql() -> None:
    markers = (".transaction()", "from sqlalchemy import")
    offending = [
        str(path.relative_to(SRC))
        for name, path in _modules().items()
        if name.startswith(("ketaclinic.web", "ketaclinic.cli"))
        and any(marker in path.read_text(encoding="utf-8") for marker in markers)
    ]
    assert offending == []


def test_no_service_falls_back_to_the_shipped_library_when_the_clinic_config_is_forgotten() -> None:
    """`config` (the clinic's library and policies) has no default in services: a forgotten one fails mypy."""
    services = SRC / "ketaclinic" / "services"
    defaulted = []
    for path in sorted(services.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            arguments = node.args
            positional = arguments.posonlyargs + arguments.args
            with_defaults = positional[len(positional) - len(arguments.defaults) :]
            pairs = zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
            keyword = [a for a, default in pairs if default is not None]
            defaulted += [f"{path.name}:{node.name}" for a in with_defaults + keyword if a.arg == "config"]
    assert defaulted == []
