# Every target that needs Python creates .venv and installs the project first (once, and again
# whenever pyproject.toml changes). A fresh clone needs nothing but python3.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PROFILE ?= default
ARGS ?=
export PROFILE

.PHONY: help setup data etl features train mlflow-ui serve bento monitor operations finance pharmacy decisions notebooks lab monitor-ui dashboard test test-fast lint format bench bench-serving bench-monitor bench-dashboard bench-notebooks clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-8s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  Options: PROFILE=small|default|large (default: default), ARGS=\"key=value ...\" config overrides"

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

setup: $(INSTALLED) ## create .venv and install the project with its dev tools

data: $(INSTALLED) ## generate the synthetic world into data/raw and data/oracle, then report its calibration
	$(BIN)/python -m data_gen generate $(ARGS)
	$(BIN)/python -m data_gen report $(ARGS)

etl: data ## validate data/raw, quarantine bad rows, write the de-identified data/clean
	$(BIN)/python -m features etl $(ARGS)

features: etl ## one feature table per task in data/features, and the clinical scores' realism check
	$(BIN)/python -m features build $(ARGS)
	$(BIN)/python -m features report $(ARGS)

train: features ## the main job: world, ETL, features, then tune, evaluate and register the four models
	$(BIN)/python -m training $(ARGS)

serve: $(INSTALLED) ## serve the champion models over HTTP on http://127.0.0.1:3000 (after make train)
	$(BIN)/bentoml serve serving.service:RiskService --host 127.0.0.1 --port 3000

bento: $(INSTALLED) ## build a Bento of the risk service (serving code and its dependencies only)
	$(BIN)/bentoml build --bentofile bentofile.yaml

monitor: $(INSTALLED) ## after make train: drift and performance of the champions on a next period, the KPI tables, a summary in reports/<run>/
	$(BIN)/python -m monitoring run $(ARGS)

operations: $(INSTALLED) ## after make etl: the census forecast's backtest, and the nurse staffing plans judged in the world over the test weeks, in reports/operations/
	$(BIN)/python -m operations forecast $(ARGS)
	$(BIN)/python -m operations evaluate $(ARGS)

finance: $(INSTALLED) ## after make etl: each facility's HRRP readmission penalty with intervals, and the revenue and margin forecast's backtest, in reports/finance/
	$(BIN)/python -m finance readmissions $(ARGS)
	$(BIN)/python -m finance forecast $(ARGS)

pharmacy: $(INSTALLED) ## after make etl: the interaction alerts the orders would raise, against the harm that followed, and the antibiotic-timing efficacy study, in reports/pharmacy/
	$(BIN)/python -m pharmacy alerts $(ARGS)
	$(BIN)/python -m pharmacy efficacy $(ARGS)

decisions: $(INSTALLED) ## after make train: a prospective period (generated, cleaned, featured), the champions validated on it, and what acting on them is worth there (transitional care, rapid response), in reports/decisions/
	$(BIN)/python -m decisions period $(ARGS)
	$(BIN)/python -m decisions validate $(ARGS)
	$(BIN)/python -m decisions transport $(ARGS)
	$(BIN)/python -m decisions report $(ARGS)
	$(BIN)/python -m decisions programme $(ARGS)
	$(BIN)/python -m decisions rapid-response $(ARGS)

notebooks: $(INSTALLED) ## after make train, make monitor and make decisions: execute the analysis notebooks into reports/notebooks/ (executed notebooks and HTML)
	$(BIN)/python -m notebooks run $(ARGS)

lab: $(INSTALLED) ## JupyterLab on the notebooks, http://127.0.0.1:8888 (installs it the first time)
	@test -x $(BIN)/jupyter-lab || $(BIN)/python -m pip install --quiet -e '.[dev,lab]'
	$(BIN)/jupyter lab --notebook-dir=notebooks --ip=127.0.0.1 --port=8888 --allow-root

monitor-ui: $(INSTALLED) ## the Evidently UI on every make monitor run's snapshots, http://127.0.0.1:8000
	$(BIN)/evidently ui --workspace reports/workspace --host 127.0.0.1 --port 8000

dashboard: $(INSTALLED) ## the clinical dashboard on http://127.0.0.1:8501 (after make train; model health after make monitor)
	$(BIN)/python -m dashboard $(ARGS)

mlflow-ui: $(INSTALLED) ## open the MLflow UI on the local tracking store (http://127.0.0.1:5000)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db --host 127.0.0.1 --port 5000

test: $(INSTALLED) ## run the whole test suite on the small profile (what CI runs)
	$(BIN)/python -m pytest -n 2 --dist loadfile

test-fast: $(INSTALLED) ## the unit tests only (not marked slow): a quick check while working
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow"

lint: $(INSTALLED) ## ruff lint and format check (the notebooks too), and no output stored in a notebook
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/nbstripout --verify notebooks/*.ipynb

format: $(INSTALLED) ## apply ruff's fixes and formatting, and strip the notebooks' outputs
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/nbstripout notebooks/*.ipynb

bench: $(INSTALLED) ## run the benchmarks; JSON results land in benchmarks/results/
	$(BIN)/python -m benchmarks.bench_data_gen
	$(BIN)/python -m benchmarks.bench_features
	$(BIN)/python -m benchmarks.bench_train

bench-serving: $(INSTALLED) ## after make train: load-test the risk service against mlflow models serve on the champions
	$(BIN)/python -m benchmarks.bench_serving

bench-dashboard: $(INSTALLED) ## after make train: each dashboard page's render time, with empty and with warm caches
	$(BIN)/python -m benchmarks.bench_dashboard

bench-notebooks: $(INSTALLED) ## after make train, make monitor and make decisions: time make notebooks per notebook, with its peak memory
	$(BIN)/python -m benchmarks.bench_notebooks

bench-monitor: $(INSTALLED) ## after make train: time make monitor by part, with its peak memory
	$(BIN)/python -m benchmarks.bench_monitor

clean: ## remove generated data, reports, caches and the virtual environment
	rm -rf data reports mlruns mlflow.db benchmarks/results $(VENV) .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
