"""The five solutions. Each sub-package registers one domain with `common.solution.register`."""

import common.runtime  # noqa: F401  (selects the Keras backend before anything imports Keras)
