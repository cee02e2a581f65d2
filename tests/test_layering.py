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
        if _is_cli(path.stem) or path.name == "__main__.py" or relative.startswith("lab/") or relative in NOT_YET:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
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
        missing += [f"{path.relative_to(PACKAGE)}: docs/{m[1]}" for m in cited.finditer(text) if not (docs / m[1]).exists()]
    assert not bad, bad
    assert not missing, f"cited docs pages that do not exist: {missing}"
