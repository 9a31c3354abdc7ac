# make reproduce  - run notebooks 01-05 headless with papermill (PROFILE=smoke by default; DATA=/path/to/RAVDESS;
#                   RUN=name for the run folder; RESUME=1 continues the newest unfinished run instead)
# make kfold      - fine-tune once per actor fold (FOLDS=6), then aggregate them in 05_protocols
# make baseline   - the MFCC + SVM baseline under every protocol, in seconds
# make test       - ruff, then pytest: unit tests, the end-to-end test and nbval over the notebooks
# Both create .venv from requirements.txt first when it is missing or out of date.

PROFILE ?= smoke
RUN ?=
RESUME ?=
DATA ?=
VENV ?= .venv
PY := $(VENV)/bin/python
PAPERMILL := $(PY) -m papermill --cwd notebooks --progress-bar
FOLDS ?= 6
LINTED := ser_utils tests conftest.py .ci benchmarks
# Executed notebooks go beside the other run products ($SER_OUTPUT_DIR when set).
OUT := $(or $(SER_OUTPUT_DIR),outputs)
EXECUTED := $(OUT)/notebooks
RUN_PARAM := $(if $(RUN),-p run_name $(RUN),)
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
	@echo "Done: profile '$(PROFILE)'."
	@echo "  figures:             figures/Acc.png figures/Loss.png figures/Conf_Mat.png"
	@echo "  run folder:          $$(ls -td $(OUT)/runs/*/ | head -1) (history.csv, predictions.csv, run_info.json, model/)"
	@echo "  model for predict:   $(OUT)/model"
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
		-p profile $(PROFILE_ARG) $(RUN_PARAM) $(if $(RESUME),-p resume True,) $(DATA_PARAM)

report: $(VENV)/.installed
	mkdir -p $(EXECUTED)
	$(PAPERMILL) notebooks/04_report.ipynb $(EXECUTED)/04_report.ipynb -p profile $(PROFILE_ARG) $(RUN_PARAM)

protocols: $(VENV)/.installed
	mkdir -p $(EXECUTED)
	$(PAPERMILL) notebooks/05_protocols.ipynb $(EXECUTED)/05_protocols.ipynb \
		-p profile $(PROFILE_ARG) -p n_folds $(FOLDS) $(DATA_PARAM)

kfold: $(VENV)/.installed
	mkdir -p $(EXECUTED)
	for fold in $$(seq 0 $$(($(FOLDS) - 1))); do \
		$(PAPERMILL) --log-output notebooks/03_finetune_wav2vec2.ipynb $(EXECUTED)/03_finetune_wav2vec2_fold$$fold.ipynb \
			-p profile $(PROFILE_ARG) -p split actor_kfold -p fold $$fold -p n_folds $(FOLDS) \
			$(DATA_PARAM) || exit 1; \
	done
	$(MAKE) --no-print-directory protocols
	@echo
	@echo "Done: $(FOLDS) actor folds of profile '$(PROFILE)'."
	@echo "  fold runs:           $(OUT)/runs/<profile>-actor_kfold-fold<k>_<time>/ (the newest of each fold counts)"
	@echo "  aggregate:           $$($(PY) -c 'import sys; from ser_utils.report import kfold_dir; print(kfold_dir(sys.argv[1], int(sys.argv[2])))' $(PROFILE_ARG) $(FOLDS))/ (summary.csv, per_fold.csv, UA_per_fold.png, Conf_Mat_summed.png)"
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
