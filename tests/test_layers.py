"""The layers point one way: command line -> API -> tuning -> workflow -> domains -> shared helpers.

Checked on every import statement of the package, also those inside functions (a lazy import is
still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from solutions.common.solution import domain_modules

ROOT = Path(__file__).resolve().parents[1]
DOMAINS = [m.split(".")[1] for m in domain_modules()]
# Layer of a module (higher may import lower, never the reverse); shared helpers are the bottom.
TOP = {"solutions.cli": 5, "solutions.__main__": 5, "solutions.api": 4, "solutions.flags": 4,
       "solutions.tuning": 3, "solutions.common.workflow": 2}


def layer(module: str) -> int:
    if module == "solutions":  # the package's face is the API
        return 4
    for prefix, level in TOP.items():
        if module == prefix or module.startswith(prefix + "."):
            return level
    if any(module == f"solutions.{d}" or module.startswith(f"solutions.{d}.") for d in DOMAINS):
        return 1
    return 0


def modules() -> list[tuple[str, Path]]:
    found = []
    for folder, package in (("solutions", "solutions"), ("common", "solutions.common"), ("tuning", "solutions.tuning")):
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found.append((".".join([package, *parts]), path))
    return found


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return {n for n in names if n == "solutions" or n.startswith("solutions.")}


@pytest.mark.parametrize("module,path", modules(), ids=[m for m, _ in modules()])
def test_imports_point_down(module, path):
    own = layer(module)
    upward = sorted(n for n in imports(path) if layer(n) > own)
    assert not upward, f"{module} (layer {own}) imports {upward} from a layer above"


def test_domains_do_not_import_each_other():
    for module, path in modules():
        if layer(module) != 1:
            continue
        mine = module.split(".")[1]
        others = sorted(n for n in imports(path) if layer(n) == 1 and n.split(".")[1] != mine)
        assert not others, f"{module} imports another domain: {others}"
