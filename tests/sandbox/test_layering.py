"""The sandbox is another company's server: it imports nothing from the app, and its own modules
import each other one way only (no cycle, not even through an import inside a function)."""
from __future__ import annotations

import ast
from pathlib import Path

SANDBOX = Path(__file__).resolve().parents[2] / "sandbox"
APP_PACKAGES = ("accounts", "kite", "mcp_bridge")
INFRASTRUCTURE = ("config.env", "config.logfilters", "config.threaded")  # generic, shared by every process


def _module_name(path: Path) -> str:
    parts = path.relative_to(SANDBOX.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every module of sandbox/ (migrations aside) and the modules it imports, wherever in the file."""
    graph: dict[str, set[str]] = {}
    for path in SANDBOX.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[_module_name(path)] = names
    return graph


def test_the_sandbox_imports_nothing_from_the_app():
    for module, names in _imports().items():
        app = sorted(n for n in names if n.split(".")[0] in APP_PACKAGES)
        config = sorted(n for n in names if n.split(".")[0] == "config" and not n.startswith(INFRASTRUCTURE))
        assert not app and not config, f"{module} imports {app + config}"


def test_sandbox_modules_import_each_other_without_a_cycle():
    graph = _imports()
    edges = {module: {n for n in names if n in graph and n != module} for module, names in graph.items()}
    for module in list(edges):  # a package's __init__ is imported with any of its modules: not an edge back
        edges[module] -= {p for p in edges if module.startswith(p + ".")}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = path[path.index(module):] + [module]
            raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
        if module in done:
            return
        for target in sorted(edges[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(edges):
        visit(module, [])
