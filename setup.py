"""Packages of the wheel. The folders `common/` and `tuning/` stay at the top of the checkout (the
project's layout) but are installed inside the `solutions` package, as `solutions.common` and
`solutions.tuning`: top-level names that generic would collide with other distributions (the
index's `common` 0.1.2 installs a top-level `common`). Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

SHARED = {"solutions.common": "common", "solutions.tuning": "tuning"}

setup(
    packages=find_packages(include=["solutions", "solutions.*"]) + list(SHARED),
    package_dir=SHARED,
)
