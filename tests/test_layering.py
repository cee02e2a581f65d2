"""Product code never imports a CLI module (click commands): data flows one way, the CLI on top."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "faultproxy"
# modules that define a click command themselves (the command and the product share a file): to split
NOT_YET = {"servers/record.py": "the `faultproxy record` command is defined beside the Recorder"}


def _is_cli(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return last == "cli" or last.endswith("_cli")


def test_no_product_module_imports_a_cli_module() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if (
            _is_cli(path.stem)
            or path.name == "__main__.py"
            or relative.startswith("lab/")
            or relative in NOT_YET
        ):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            offenders += [f"{path.relative_to(PACKAGE)} imports {n}" for n in names if _is_cli(n)]
    assert not offenders, offenders


def test_modules_cite_docs_of_the_repository_never_files_outside_it() -> None:
    """Design notes a reader needs live in docs/; a module citing reference material outside the
    repository (../shared/..., its file names) sends the reader where the repository cannot follow."""
    import re

    outside = re.compile(r"/work/shared|\.\./shared|\bshared/[\w.-]+\.md|intermediaries\.md")
    cited = re.compile(r"\bdocs/([\w.-]+\.md)\b")
    docs = PACKAGE.parent / "docs"
    bad, missing = [], []
    for path in sorted([*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.mjs")]):
        if "node_modules" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        bad += [f"{path.relative_to(PACKAGE)}: {m.group()}" for m in outside.finditer(text)]
        missing += [
            f"{path.relative_to(PACKAGE)}: docs/{m[1]}"
            for m in cited.finditer(text)
            if not (docs / m[1]).exists()
        ]
    assert not bad, bad
    assert not missing, f"cited docs pages that do not exist: {missing}"


# product modules that still build on the teaching package, and why (to move next)
LAB_NOT_YET = {
    "servers/sse.py": "the reference SSE server is the lab's SSE server with ground-truth logs",
    "servers/starlette_app.py": "it serves the reference SSE server's stream (STREAM_PATH, SentEvent)",
    "clients/py_raw.py": "the `raw` reference client is the lab's from-scratch EventSource",
}


def test_no_product_module_builds_on_the_teaching_package() -> None:
    """``lab/`` teaches; the product never imports it (``lab/`` imports from ``net/`` instead)."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("lab/") or _is_cli(path.stem) or path.name == "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            if any(n == "faultproxy.lab" or n.startswith("faultproxy.lab.") for n in names):
                offenders.append(relative)
    assert sorted(set(offenders)) == sorted(LAB_NOT_YET)


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _module_imports() -> dict[str, set[str]]:
    """Each module's imports of faultproxy modules made when it loads (not those inside
    functions, nor those only for type checking)."""
    edges: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        deps: set[str] = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for sub in ast.walk(node):
                if isinstance(sub, ast.ImportFrom) and sub.module and sub.module.startswith("faultproxy"):
                    # ``from package import module`` needs that module, not all of the package
                    modules = {
                        f"{sub.module}.{a.name}" for a in sub.names if _is_module(f"{sub.module}.{a.name}")
                    }
                    deps |= modules if len(modules) == len(sub.names) else {sub.module}
                elif isinstance(sub, ast.Import):
                    deps |= {a.name for a in sub.names if a.name.startswith("faultproxy")}
        edges[module] = deps - {module}  # a package importing its own modules is no cycle
    return edges


def test_no_import_cycle() -> None:
    """Data flows one way: no module needs, while it loads, a module that needs it back."""
    edges = _module_imports()
    cycles = []

    def visit(start: str, node: str, path: list[str]) -> None:
        for dep in sorted(edges.get(node, ())):
            if dep == start:
                cycles.append(" -> ".join([*path, dep]))
            elif dep not in path and dep > start:  # each cycle once, from its smallest module
                visit(start, dep, [*path, dep])

    for module in sorted(edges):
        visit(module, module, [module])
    assert cycles == []


def test_the_connection_core_and_its_adapter_know_nothing_of_the_proxy() -> None:
    """The core and the relay get a config, the faults, a capture sink and a callback: none of
    them imports the listener (not even for type checking), so none can reach back into it."""
    listener = {"faultproxy.proxy.server", "faultproxy.proxy.connections", "faultproxy.proxy.cli"}
    for name in ("core", "states", "flow", "outbox", "answers", "relay", "capture"):
        source = (PACKAGE / "proxy" / f"{name}.py").read_text(encoding="utf-8")
        imported = {n.module for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom)}
        assert not imported & listener, f"proxy/{name}.py imports {sorted(imported & listener)}"
