# make's targets run the project's own commands (python -m ser_utils <command>, ser_utils/pipeline.py for the
# notebooks and k-fold runs); `make help` lists them. Each target first makes .venv from requirements.txt when it is
# missing or out of date, and checks its variables (python -m ser_utils variables) before any work.

PROFILE ?= smoke
RUN ?=
RESUME ?=
DATA ?=
CORPORA ?=
TEST_CORPORA ?=
SPEAKER_PATTERN ?=
PROTOCOL ?= actor_kfold
FOLDS ?= 6
SEEDS ?= 42
MODE ?=
LAYERSUM ?=
LR ?=
WINDOW ?=
VALIDATION ?=
VENV ?= .venv
PY := $(VENV)/bin/python
PAPERMILL ?= $(PY) -m papermill --cwd notebooks --progress-bar
LOWEST := .venv-lowest
LINTED := ser_utils tests conftest.py .ci benchmarks
# make test's pytest workers (pytest-xdist), each a test file at a time with its share of the cores (conftest.py).
TEST_WORKERS ?= 2
# make -j N kfold: N runs at once.
JOBS = $(or $(patsubst -j%,%,$(filter -j%,$(MAKEFLAGS))),1)

# make's variables, as the pipeline's options.
OPTIONS = --profile '$(PROFILE)' $(if $(DATA),--data '$(DATA)') $(if $(CORPORA),--corpora '$(CORPORA)') \
	$(if $(TEST_CORPORA),--test-corpora '$(TEST_CORPORA)') $(if $(MODE),--mode $(MODE)) $(if $(LAYERSUM),--layersum) \
	$(if $(SPEAKER_PATTERN),--speaker-pattern '$(SPEAKER_PATTERN)') \
	$(if $(LR),--lr $(LR)) $(if $(WINDOW),--window $(WINDOW)) $(if $(VALIDATION),--validation $(VALIDATION)) \
	--protocol $(PROTOCOL) --folds $(FOLDS) --seeds $(SEEDS) --papermill '$(PAPERMILL)'
NOTEBOOK_OPTIONS = $(OPTIONS) $(if $(RUN),--run-name '$(RUN)') $(if $(RESUME),--resume)
NOTEBOOKS := eda preprocess finetune report protocols

.PHONY: help variables reproduce $(NOTEBOOKS) kfold baseline wheel docs lint test test-quick test-lowest hooks clean \
	notebook-outputs

help: ## list the targets
	@awk -F':.*## ' '/^[a-z-]+:.*## /{printf "  make %-17s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  make eda, preprocess, finetune, report or protocols: one notebook alone, with the variables below"
	@echo "  variables: PROFILE DATA CORPORA TEST_CORPORA SPEAKER_PATTERN PROTOCOL FOLDS SEEDS MODE LAYERSUM LR WINDOW"
	@echo "             VALIDATION RUN RESUME"

$(VENV)/.installed: requirements.txt pyproject.toml .ci/install.py
	python3 .ci/install.py $(VENV)

variables: $(VENV)/.installed
	@$(PY) -m ser_utils variables FOLDS='$(FOLDS)' SEEDS='$(SEEDS)' LR='$(LR)' MODE='$(MODE)' PROTOCOL='$(PROTOCOL)' \
		WINDOW='$(WINDOW)' VALIDATION='$(VALIDATION)' DATA='$(DATA)'

reproduce: $(VENV)/.installed variables ## notebooks 01-05 headless (PROFILE=smoke, DATA=folder(s), RUN=, RESUME=1)
	$(PY) -m ser_utils reproduce $(NOTEBOOK_OPTIONS)

$(NOTEBOOKS): $(VENV)/.installed variables
	$(PY) -m ser_utils reproduce --only $@ $(NOTEBOOK_OPTIONS)

kfold: $(VENV)/.installed variables ## one run per fold and seed, then their aggregate (PROTOCOL, FOLDS, SEEDS; make -j N)
	$(PY) -m ser_utils kfold $(OPTIONS) --jobs $(JOBS)

baseline: $(VENV)/.installed variables ## the MFCC + SVM baseline under every protocol, in seconds
	$(PY) -m ser_utils baseline $(if $(DATA),--data '$(DATA)') --n-folds $(FOLDS) $(if $(CORPORA),--corpora \
		$(CORPORA)) $(if $(TEST_CORPORA),--test-corpora $(TEST_CORPORA)) $(if $(WINDOW),--window $(WINDOW)) \
		$(if $(SPEAKER_PATTERN),--speaker-pattern '$(SPEAKER_PATTERN)')

wheel: $(VENV)/.installed ## dist/ser_utils-*.whl (sample, checksums, profiles) for offline installs, e.g. on Kaggle
	rm -rf build dist/ser_utils-*.whl
	$(PY) -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist .
	@ls -l dist/ser_utils-*.whl

docs: $(VENV)/.installed ## the docs site in outputs/site: tables rendered from results/*.csv, then mkdocs --strict
	$(PY) -m ser_utils pages
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

lint: $(VENV)/.installed ## ruff: lint and format check
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)

test: lint ## the full suite: unit tests, end-to-end runs, nbval over the notebooks (CI runs this)
	$(PY) -m pytest -n $(TEST_WORKERS)

test-quick: lint ## the tests that need neither ../shared/data nor minutes: a fresh clone's check
	$(PY) -m pytest -n $(TEST_WORKERS) -m "not needs_data and not slow and not browser" --nbval-lax notebooks tests

$(LOWEST)/.installed: requirements.txt pyproject.toml .ci/lowest.txt .ci/install.py
	python3 .ci/install.py $(LOWEST) --lowest

test-lowest: $(LOWEST)/.installed ## training, prediction, encoders and checkpoints at the lowest supported versions
	$(LOWEST)/bin/python -c "import torch, transformers, accelerate, datasets as d; print('lowest versions: torch', \
		torch.__version__, 'transformers', transformers.__version__, 'accelerate', accelerate.__version__, 'datasets', \
		d.__version__)"
	$(LOWEST)/bin/python -m pytest -n $(TEST_WORKERS) -p no:cacheprovider -m lowest tests

hooks: ## check commit subjects (72 characters, imperative) with .githooks/commit-msg
	git config core.hooksPath .githooks

clean: ## remove outputs/ and build products
	rm -rf outputs .pytest_cache build dist

notebook-outputs: $(VENV)/.installed ## maintainers: store fresh notebook outputs for nbval after changing a notebook
	$(PY) .ci/store_notebook_outputs.py
