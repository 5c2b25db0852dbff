"""The applied-ML kit as a library: `solutions.train(domain, **options)`, `solutions.load(run_dir)`,
`solutions.tune(domain, **options)`, `solutions.options(domain)`, `solutions.domains()`.

Each sub-package is one domain and registers itself with `solutions.common.solution.register`;
`solutions.common` and `solutions.tuning` are the shared layers (the checkout's `common/` and
`tuning/` folders). Importing this package does not load TensorFlow.
"""

import solutions.common.runtime  # noqa: F401  (selects the Keras backend before anything imports Keras)
from solutions.api import Run, Search, domains, load, options, train, tune
from solutions.common.errors import UserError

__all__ = ["Run", "Search", "UserError", "domains", "load", "options", "train", "tune"]
