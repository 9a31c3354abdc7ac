# make reproduce  - run notebooks 01-05 headless with papermill (PROFILE=smoke by default; DATA=/path/to/RAVDESS)
# make kfold      - fine-tune once per actor fold (FOLDS=6), then aggregate them in 05_protocols
# make baseline   - the MFCC + SVM baseline under every protocol, in seconds
# make test       - ruff, then pytest: unit tests, the end-to-end test and nbval over the notebooks
# Both create .venv from requirements.txt first when it is missing or out of date.

PROFILE ?= smoke
RUN ?= $(basename $(notdir $(PROFILE)))
DATA ?=
VENV ?= .venv
PY := $(VENV)/bin/python
PAPERMILL := $(PY) -m papermill --cwd notebooks --progress-bar
FOLDS ?= 6
LINTED := ser_utils tests conftest.py .ci benchmarks
# Executed notebooks go beside the other run products ($SER_OUTPUT_DIR when set).
EXECUTED := $(or $(SER_OUTPUT_DIR),outputs)/notebooks
DATA_PARAM := $(if $(DATA),-p data_dir $(abspath $(DATA)),)
# PROFILE is a name from params/ or a path to a YAML file (made absolute, like the dataset path below).
PROFILE_ARG := $(if $(wildcard $(PROFILE)),$(abspath $(PROFILE)),$(PROFILE))
# Notebooks run with notebooks/ as working directory: hand them an absolute dataset path.
ifneq ($(RAVDESS_DIR),)
export RAVDESS_DIR := $(abspath $(RAVDESS_DIR))
endif

.PHONY: reproduce eda preprocess finetune report protocols kfold baseline test lint clean notebook-outputs

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

reproduce: eda preprocess finetune report protocols
	@echo
	@echo "Done: profile '$(PROFILE)', run '$(RUN)'."
	@echo "  figures:             figures/Acc.png figures/Loss.png figures/Conf_Mat.png"
	@echo "  tables:              outputs/runs/$(RUN)/history.csv, outputs/runs/$(RUN)/predictions.csv"
	@echo "  run details:         outputs/runs/$(RUN)/run_info.json"
	@echo "  model:               outputs/runs/$(RUN)/model and outputs/model"
	@echo "  protocols, baseline: $(EXECUTED)/05_protocols.ipynb"
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

protocols: $(VENV)/.installed
	mkdir -p $(EXECUTED)
	$(PAPERMILL) notebooks/05_protocols.ipynb $(EXECUTED)/05_protocols.ipynb \
		-p profile $(PROFILE_ARG) -p n_folds $(FOLDS) $(DATA_PARAM)

kfold: $(VENV)/.installed
	mkdir -p $(EXECUTED)
	for fold in $$(seq 0 $$(($(FOLDS) - 1))); do \
		$(PAPERMILL) --log-output notebooks/03_finetune_wav2vec2.ipynb $(EXECUTED)/03_finetune_wav2vec2_fold$$fold.ipynb \
			-p profile $(PROFILE_ARG) -p split actor_kfold -p fold $$fold -p n_folds $(FOLDS) \
			-p run_name $(RUN)-actor_kfold-fold$$fold $(DATA_PARAM) || exit 1; \
	done
	$(MAKE) --no-print-directory protocols
	@echo
	@echo "Done: $(FOLDS) actor folds of profile '$(PROFILE)'."
	@echo "  fold runs:           $(or $(SER_OUTPUT_DIR),outputs)/runs/$(RUN)-actor_kfold-fold*/"
	@echo "  aggregate:           $(or $(SER_OUTPUT_DIR),outputs)/runs/$(RUN)-actor_kfold/ (summary.csv, per_fold.csv, UA_per_fold.png, Conf_Mat_summed.png)"
	@echo "  executed notebooks:  $(EXECUTED)/"

baseline: $(VENV)/.installed
	$(PY) -m ser_utils.baseline $(if $(DATA),--data $(abspath $(DATA)),) --n-folds $(FOLDS)

lint: $(VENV)/.installed
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)

test: lint
	$(PY) -m pytest

clean:
	rm -rf outputs .pytest_cache

# Maintainers: after changing a notebook, store fresh outputs for nbval to compare against.
notebook-outputs: $(VENV)/.installed
	$(PY) .ci/store_notebook_outputs.py
