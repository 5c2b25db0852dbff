"""The README's Python examples run as written, and each gives the same test metrics as the
command line with the same options and seed (real datasets: marked slow)."""

from __future__ import annotations

import ast
import json
import re

import pytest

from tests.conftest import ROOT

SECTION = re.compile(r"^## Python API\n(.*?)(?=^## )", re.S | re.M)


def python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = SECTION.search(text)
    assert section, "README.md has no '## Python API' section"
    return re.findall(r"```python\n(.*?)```", section.group(1), re.S)


def train_call(block: str) -> tuple[str, dict]:
    """The domain and keyword options of the block's `solutions.train(...)` call."""
    for node in ast.walk(ast.parse(block)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "train":
            return ast.literal_eval(node.args[0]), {k.arg: ast.literal_eval(k.value) for k in node.keywords}
    raise AssertionError(f"no solutions.train call in:\n{block}")


def test_every_domain_has_an_example():
    from solutions.common.solution import all_solutions

    shown = {train_call(b)[0] for b in python_blocks()}
    assert shown == {s.name for s in all_solutions()}


@pytest.mark.slow
@pytest.mark.parametrize("block", python_blocks(), ids=lambda b: train_call(b)[0])
def test_readme_example_runs_and_matches_the_cli(block, tmp_path, monkeypatch, capsys):
    from solutions.cli import main

    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})  # as written
    domain, options = train_call(block)
    api_metrics = json.loads((tmp_path / options["output"] / "metrics.json").read_text())
    argv = ["train", domain, "--output", str(tmp_path / "cli")]
    for key, value in options.items():
        if key != "output":
            argv += [f"--{key.replace('_', '-')}", str(value)]
    assert main(argv) == 0
    cli_metrics = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    assert cli_metrics["test"] == api_metrics["test"]
    capsys.readouterr()
