"""Hyperparameter search with KerasTuner for every domain (`solutions tune <domain>`).

spaces.py maps a KerasTuner `hp` to the options `solutions train` takes; hypermodel.py runs a trial
through the domain's own model, compile and pipelines; trial_process.py runs each trial in a process
of its own; tuners.py wraps the random, Bayesian and Hyperband searches; search.py drives a search,
its trial table and plot, and retrains the best; distributed.py is KerasTuner's chief/worker mode
with clean exits.
"""

TUNERS = ("random", "bayesian", "hyperband")
