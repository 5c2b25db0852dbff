"""The applied-ML kit as a library: `solutions.train(domain, **options)`, `solutions.load(run_dir)`,
`solutions.tune(domain, **options)`, `solutions.options(domain)`, `solutions.domains()`.

Each sub-package is one domain and registers itself with `solutions.common.solution.register`;
`solutions.common` and `solutions.tuning` are the shared layers (the checkout's `common/` and
`tuning/` folders). Importing this package does not load TensorFlow.
"""



def _mount_shared_layers() -> None:
    """A checkout used without `pip install -e .`: the `common/` and `tuning/` folders beside this
    package are mounted as `solutions.common` and `solutions.tuning`, as an install maps them
    (setup.py). Installed, they are found as they are and this does nothing."""
    import importlib.util
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for name in ("common", "tuning"):
        full = f"solutions.{name}"
        init = root / name / "__init__.py"
        if full in sys.modules or importlib.util.find_spec(full) is not None or not init.is_file():
            continue
        spec = importlib.util.spec_from_file_location(full, init, submodule_search_locations=[str(init.parent)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        spec.loader.exec_module(module)


_mount_shared_layers()

import solutions.common.runtime  # noqa: E402,F401  (selects the Keras backend before anything imports Keras)
from solutions.api import Run, Search, domains, load, options, train, tune  # noqa: E402
from solutions.common.errors import UserError  # noqa: E402



from solutions.common.rundir import kit_version  # noqa: E402

__version__ = kit_version()
__all__ = ["Run", "Search", "UserError", "__version__", "domains", "load", "options", "train", "tune"]
