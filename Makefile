# make reproduce  - run notebooks 01-04 headless with papermill (PROFILE=smoke by default; DATA=/path/to/RAVDESS)
# make test       - ruff, then pytest: unit tests, the end-to-end test and nbval over the notebooks
# Both create .venv from requirements.txt first when it is missing or out of date.

PROFILE ?= smoke
RUN ?= $(basename $(notdir $(PROFILE)))
DATA ?=
VENV ?= .venv
PY := $(VENV)/bin/python
PAPERMILL := $(PY) -m papermill --cwd notebooks --progress-bar
EXECUTED := outputs/notebooks
DATA_PARAM := $(if $(DATA),-p data_dir $(abspath $(DATA)),)
# PROFILE is a name from params/ or a path to a YAML file (made absolute, like the dataset path below).
PROFILE_ARG := $(if $(wildcard $(PROFILE)),$(abspath $(PROFILE)),$(PROFILE))
# Notebooks run with notebooks/ as working directory: hand them an absolute dataset path.
ifneq ($(RAVDESS_DIR),)
export RAVDESS_DIR := $(abspath $(RAVDESS_DIR))
endif

.PHONY: reproduce eda preprocess finetune report test lint clean notebook-outputs

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

reproduce: eda preprocess finetune report
	@echo
	@echo "Done: profile '$(PROFILE)', run '$(RUN)'."
	@echo "  figures:             figures/Acc.png figures/Loss.png figures/Conf_Mat.png"
	@echo "  tables:              outputs/runs/$(RUN)/history.csv, outputs/runs/$(RUN)/predictions.csv"
	@echo "  run details:         outputs/runs/$(RUN)/run_info.json"
	@echo "  model:               outputs/runs/$(RUN)/model and outputs/model"
	@echo "  executed notebooks:  $(EXECUTED)/"

eda: $(VENV)/.installed
	mkdir -p $(EXECUTED)
	$(PAPERMILL) notebooks/01_eda.ipynb $(EXECUTED)/01_eda.ipynb $(DATA_PARAM)

preprocess: $(VENV)/.installed
	mkdir -p $(EXECUTED)
	$(PAPERMILL) notebooks/02_preprocessing.ipynb $(EXECUTED)/02_preprocessing.ipynb $(DATA_PARAM)

finetune: $(VENV)/.installed
	mkdir -p $(EXECUTED)
	$(PAPERMILL) --log-output notebooks/03_finetune_wav2vec2.ipynb $(EXECUTED)/03_finetune_wav2vec2.ipynb \
		-p profile $(PROFILE_ARG) -p run_name $(RUN) $(DATA_PARAM)

report: $(VENV)/.installed
	mkdir -p $(EXECUTED)
	$(PAPERMILL) notebooks/04_report.ipynb $(EXECUTED)/04_report.ipynb -p profile $(PROFILE_ARG) -p run_name $(RUN)

lint: $(VENV)/.installed
	$(PY) -m ruff check ser_utils tests conftest.py .ci
	$(PY) -m ruff format --check ser_utils tests conftest.py .ci

test: lint
	$(PY) -m pytest

clean:
	rm -rf outputs .pytest_cache

# Maintainers: after changing a notebook, store fresh outputs for nbval to compare against.
notebook-outputs: $(VENV)/.installed
	$(PY) .ci/store_notebook_outputs.py
