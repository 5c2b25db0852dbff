# One entry point per job; each bootstraps .venv on first use (needs only python3 and make).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TEST_WORKERS ?= 2
# Real dataset copies beside a checkout (CI, developers); users keep their own data directory.
ifneq ($(wildcard ../shared/datasets),)
export SOLUTIONS_DATA_DIR ?= $(abspath ../shared/datasets)
endif

.PHONY: bootstrap quickstart test test-slow test-ci-slow bench bench-throughput bench-serve bench-medical-tries clean

bootstrap: $(STAMP)

$(STAMP): pyproject.toml setup.py
	@$(PYTHON) -m venv $(VENV) || { echo "error: '$(PYTHON) -m venv' failed; on Debian/Ubuntu install python3-venv" >&2; exit 2; }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip uninstall --quiet --yes solutions 2>/dev/null || true  # the kit's former distribution name (now keras-solutions-kit)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

quickstart: $(STAMP)  ## train the default image classifier into saved_models/
	$(BIN)/solutions train image-classification

test: $(STAMP)  ## fast suite, two tests at a time (TEST_WORKERS=1 for one)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal

test-slow: $(STAMP)  ## real-data runs at default settings, checked against the acceptance targets
	$(BIN)/python -m pytest -q -m slow

test-ci-slow: $(STAMP)  ## the part of test-slow that CI takes: real-data runs of each domain, 6-14 minutes on AVX2-only EPYCs
	$(BIN)/python -m pytest -q -m "slow and ci"

bench: $(STAMP)  ## each domain's default on seeds 0 1 2, one table (ARGS="--cases digits --seeds 0")
	$(BIN)/python -m benchmarks.bench $(ARGS)

bench-throughput: $(STAMP)  ## kit training samples/s vs plain model.fit (digits, PneumoniaMNIST)
	$(BIN)/python -m benchmarks.throughput $(ARGS)

bench-serve: $(STAMP)  ## solutions serve under load: 2,000 requests from 16 clients on digits and rt-polarity runs
	$(BIN)/python -m benchmarks.bench_serve $(RUNS)

bench-medical-tries: $(STAMP)  ## PneumoniaMNIST's default model, one change at a time, test AUC logged each epoch (ARGS="--per-image-std")
	$(BIN)/python -m benchmarks.medical_tries $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
