# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench validation lint clean install

$(BIN)/python:
	@echo "make: creating the virtual environment $(VENV) (first time only)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	@echo "make: installing baclofen-sim and its dependencies into $(VENV) (first time, or after pyproject.toml changed)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)
	@echo "make: installed"

install: $(STAMP)

run: $(STAMP)
	@echo "make: running every scenario of scenarios/ into results/ (the first run compiles the engine)"
	$(BIN)/baclofen-sim batch scenarios --out results

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Internal and external checks of the model: results/validation/
validation: $(STAMP)
	$(BIN)/baclofen-sim validation --out results

# Speed and memory of the engines (not part of `make test`): results/bench/bench.json
bench: $(STAMP)
	$(BIN)/python -m sim.bench

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) results/*/ .pytest_cache .ruff_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
