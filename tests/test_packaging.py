"""The kit installs one top-level import name, `solutions`: its shared layers live inside it
(`solutions.common`, `solutions.tuning`), so a generic top-level package from another
distribution (the index's `common` 0.1.2 installs `common.term.progress`) lives beside it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


def test_a_foreign_top_level_common_package_does_not_shadow_the_kit(tmp_path):
    """The same layout the index's `common` 0.1.2 installs, first on the path, and a real train."""
    foreign = tmp_path / "site" / "common" / "term"
    foreign.mkdir(parents=True)
    (foreign.parent / "__init__.py").write_text("")
    (foreign / "__init__.py").write_text("")
    (foreign / "progress.py").write_text("MARK = 'foreign common'\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT)])}
    probe = subprocess.run([sys.executable, "-c", "import common.term.progress as p, solutions; print(p.MARK)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert probe.returncode == 0 and "foreign common" in probe.stdout, probe.stderr
    run = subprocess.run([sys.executable, "-m", "solutions", "train", "image-classification", "--epochs", "1",
                          "--width", "8", "--image-size", "16", "--quantize", "none", "--output", str(tmp_path / "run")],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "run" / "model.tflite").is_file()


def test_the_wheel_holds_one_top_level_package(tmp_path):
    """`pip wheel` of the checkout: `solutions` (with common/ and tuning/ inside) and its metadata."""
    import shutil

    pytest.importorskip("setuptools")
    src = tmp_path / "src"  # a copy: an in-tree build would leave build/ and egg-info in the checkout
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for folder in ("solutions", "common", "tuning"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path), str(src)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next(Path(tmp_path).glob("keras_solutions_kit-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"solutions"}
    for module in ("solutions/common/workflow.py", "solutions/tuning/search.py", "solutions/api.py",
                   "solutions/cli.py", "solutions/sentiment/__init__.py"):
        assert module in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "solutions = solutions.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_a_checkout_without_an_install_still_imports(tmp_path):
    """No editable install, no site-packages: `common/` and `tuning/` are mounted from the checkout."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import solutions.common.errors as e, solutions.tuning as t; "
            "print(e.__file__); print(t.__file__)")
    result = subprocess.run([sys.executable, "-S", "-c", code, str(ROOT)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(ROOT / "common" / "errors.py"), str(ROOT / "tuning" / "__init__.py")]


def test_the_kit_says_its_version_and_records_it_in_each_run():
    """A replayed config names the kit that made it; `solutions --version` and `__version__` exist."""
    from importlib.metadata import version

    import solutions
    from solutions.common.rundir import package_versions

    assert solutions.__version__ == version("keras-solutions-kit")
    assert package_versions()["keras-solutions-kit"] == solutions.__version__
    shown = subprocess.run([sys.executable, "-m", "solutions", "--version"], capture_output=True, text=True,
                           timeout=120, cwd=ROOT)
    assert shown.returncode == 0 and shown.stdout.strip() == f"keras-solutions-kit {solutions.__version__}"
