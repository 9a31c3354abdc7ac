# make reproduce  - run notebooks 01-05 headless with papermill (PROFILE=smoke by default; DATA=/path/to/RAVDESS;
#                   RUN=name for the run folder; RESUME=1 continues the newest unfinished run instead)
#                   DATA="dir1 dir2" gives several corpora (one folder's path may hold spaces); CORPORA=ravdess,tess picks
#                   among them; PROTOCOL=cross_corpus (or emobox_cross_corpus); the notebook, kfold and baseline targets
#                   check these variables before any work (python -m ser_utils.options: FOLDS=0 is one line, not a traceback)
#                   TEST_CORPORA=tess tests on one and trains on the others (finetune, kfold, protocols, baseline)
# make kfold      - train once per fold and seed (PROTOCOL=actor_kfold|emobox, FOLDS=6, SEEDS="1 2 3",
#                   MODE=fine-tuned|cnn-frozen|frozen, LAYERSUM=1, LR=1e-3; WINDOW=whole and, with emobox,
#                   VALIDATION=random for EmoBox's settings), then aggregate them; make -j N runs N at once
# make baseline   - the MFCC + SVM baseline under every protocol, in seconds
# make wheel      - dist/ser_utils-*.whl (bundled sample, checksums, profiles): attach it to Kaggle for offline installs
# make test       - ruff, then pytest: unit tests, the end-to-end test and nbval over the notebooks
# make test-lowest - the training, prediction, encoder and checkpoint tests on the lowest supported versions
#                   (.ci/lowest.txt: torch, transformers, accelerate, datasets), in a second environment .venv-lowest
# Both create .venv from requirements.txt first when it is missing or out of date.

PROFILE ?= smoke
RUN ?=
RESUME ?=
DATA ?=
VENV ?= .venv
PY := $(VENV)/bin/python
PAPERMILL := $(PY) -m papermill --cwd notebooks --progress-bar
FOLDS ?= 6
PROTOCOL ?= actor_kfold
SEEDS ?= 42
MODE ?=
LAYERSUM ?=
LR ?=
WINDOW ?=
VALIDATION ?=
LINTED := ser_utils tests conftest.py .ci benchmarks
# make test's pytest workers (pytest-xdist), each a test file at a time with its share of the cores (conftest.py).
TEST_WORKERS ?= 2
# Executed notebooks go beside the other run products ($SER_OUTPUT_DIR when set).
OUT := $(or $(SER_OUTPUT_DIR),outputs)
EXECUTED := $(OUT)/notebooks
RUN_PARAM := $(if $(RUN),-p run_name $(RUN),)
comma := ,
empty :=
space := $(empty) $(empty)
# DATA: one folder, whose path may hold spaces, or several separated by spaces; the notebooks take them as one
# comma-separated list of absolute paths (they run with notebooks/ as working directory).
DATA_IS_ONE := $(if $(DATA),$(shell test -e '$(DATA)' && echo 1),)
DATA_PATHS := $(if $(DATA_IS_ONE),$(shell realpath -m -- '$(DATA)'),$(abspath $(DATA)))
DATA_PARAM := $(if $(DATA),-p data_dir '$(if $(DATA_IS_ONE),$(DATA_PATHS),$(subst $(space),$(comma),$(DATA_PATHS)))',)
# make's variables checked before a target does any work, with the ranges of the options they stand for.
CHECK_VARIABLES = $(PY) -m ser_utils.options FOLDS='$(FOLDS)' SEEDS='$(SEEDS)' LR='$(LR)' MODE='$(MODE)' \
	PROTOCOL='$(PROTOCOL)' WINDOW='$(WINDOW)' VALIDATION='$(VALIDATION)' DATA='$(DATA)'
CORPORA ?=
TEST_CORPORA ?=
# The profile fields chosen on the make command line (MODE, LAYERSUM, LR, CORPORA, TEST_CORPORA, WINDOW, VALIDATION), as
# one YAML mapping: papermill hands it to notebooks 03 and 05 as `overrides`, ser_utils.report takes it as
# --overrides. $(call overrides,ITEMS) adds a target's own "key":value items.
FIELDS := $(if $(filter frozen,$(MODE)),"freeze_encoder":true) $(if $(filter cnn-frozen,$(MODE)),"freeze_feature_encoder":true) \
	$(if $(filter fine-tuned,$(MODE)),"freeze_encoder":false "freeze_feature_encoder":false) \
	$(if $(LAYERSUM),"weighted_layer_sum":true) $(if $(LR),"learning_rate":$(LR)) \
	$(if $(CORPORA),"corpora":"$(CORPORA)") $(if $(TEST_CORPORA),"test_corpora":"$(TEST_CORPORA)") \
	$(if $(WINDOW),"window":"$(WINDOW)") $(if $(VALIDATION),"validation":"$(VALIDATION)")
overrides = '{$(subst $(space),$(comma),$(strip $(FIELDS) $(1)))}'
# EDA and preprocessing: every corpus that trains or tests.
FOUND_PARAM := $(if $(CORPORA),-p corpora $(CORPORA)$(if $(TEST_CORPORA),$(comma)$(TEST_CORPORA),),)
# PROFILE is a name from params/ or a path to a YAML file (made absolute, like the dataset path below).
PROFILE_ARG := $(if $(wildcard $(PROFILE)),$(abspath $(PROFILE)),$(PROFILE))
# Notebooks run with notebooks/ as working directory: hand them an absolute dataset path.
ifneq ($(RAVDESS_DIR),)
export RAVDESS_DIR := $(abspath $(RAVDESS_DIR))
endif

# pip compiles the modules it installs to bytecode one at a time; compileall after it uses every core: the install
# took 142.7 and 121.6 s against 156.5 and 154.6 s on 2 cores of an AMD EPYC (benchmarks/install_time.py, rows in
# BENCHMARKS.md). A file written for a newer Python (torch ships a few) is skipped, as pip's own compile skips it.
COMPILE_ALL := import compileall, sysconfig; compileall.compile_dir(sysconfig.get_path('purelib'), quiet=2, workers=0)
# librosa's numba functions compile when their modules are first imported, and numba caches them beside the modules:
# importing them here puts the 12 s this takes on 2 cores into the install, not into the first notebook (01's
# spectrograms) or test after it.
NUMBA_WARM := import librosa.core.audio, librosa.feature.spectral, librosa.util.utils
$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --no-compile --upgrade pip
	$(PY) -m pip install --quiet --no-compile -r requirements.txt
	$(PY) -c "$(COMPILE_ALL)"
	$(PY) -c "$(NUMBA_WARM)"
	touch $@

# 01 and 02 read only the corpora, and 03 starts with them: its kernel imports torch (4 s of one core) while they
# run, and its preparation waits for 02's to finish (the prepared folder's lock) and then finds every clip made, so
# its numbers are those of 03 run after 02. 03's output streams as it trains; 01's and 02's come each in one piece
# when the notebook is done, as do 04's and 05's, which read only what 03 made and run at once after it. The step
# fails when any of 01-03 failed, after 03 has ended. The venv is this target's to make: -o keeps the sub-makes from
# making it again (make passes no -o down, so a `make -o .venv/.installed reproduce` would not hold).
NOTEBOOK_MAKE = $(MAKE) --no-print-directory -o $(VENV)/.installed -o variables
reproduce: $(VENV)/.installed variables
	@$(NOTEBOOK_MAKE) -j 2 --output-sync=target eda preprocess & corpora=$$!; \
	$(NOTEBOOK_MAKE) finetune; trained=$$?; wait $$corpora && test $$trained = 0
	@$(NOTEBOOK_MAKE) -j 2 --output-sync=target report protocols
	@echo
	@echo "Done: profile '$(PROFILE)'."
	@echo "  figures:             figures/Acc.png figures/Loss.png figures/Conf_Mat.png"
	@echo "  run folder:          $$(ls -td $(OUT)/runs/*/ | head -1) (history.csv, predictions.csv, run_info.json, model/)"
	@echo "  model for predict:   $(OUT)/model"
	@echo "  protocols, baseline: $(EXECUTED)/05_protocols.ipynb"
	@echo "  executed notebooks:  $(EXECUTED)/"

eda: $(VENV)/.installed variables
	mkdir -p $(EXECUTED)
	$(PAPERMILL) notebooks/01_eda.ipynb $(EXECUTED)/01_eda.ipynb $(DATA_PARAM) $(FOUND_PARAM)

preprocess: $(VENV)/.installed variables
	mkdir -p $(EXECUTED)
	$(PAPERMILL) notebooks/02_preprocessing.ipynb $(EXECUTED)/02_preprocessing.ipynb $(DATA_PARAM) $(FOUND_PARAM)

finetune: $(VENV)/.installed variables
	mkdir -p $(EXECUTED)
	$(PAPERMILL) --log-output notebooks/03_finetune_wav2vec2.ipynb $(EXECUTED)/03_finetune_wav2vec2.ipynb \
		-p profile $(PROFILE_ARG) $(RUN_PARAM) $(if $(RESUME),-p resume True,) $(DATA_PARAM) \
		-y 'overrides: '$(call overrides,$(if $(filter cross_corpus emobox_cross_corpus,$(PROTOCOL)),"protocol":"$(PROTOCOL)"))

report: $(VENV)/.installed
	mkdir -p $(EXECUTED)
	$(PAPERMILL) notebooks/04_report.ipynb $(EXECUTED)/04_report.ipynb -p profile $(PROFILE_ARG) $(RUN_PARAM)

protocols: $(VENV)/.installed variables
	mkdir -p $(EXECUTED)
	$(PAPERMILL) notebooks/05_protocols.ipynb $(EXECUTED)/05_protocols.ipynb \
		-p profile $(PROFILE_ARG) -p kfold_protocol $(PROTOCOL) -p seeds "$(SEEDS)" $(DATA_PARAM) \
		-y 'overrides: '$(call overrides,"n_folds":$(FOLDS))

# One target per (fold, seed): `make -j N kfold` runs N at once; the aggregate waits for all of them.
FOLD_COUNT := $(if $(filter emobox,$(PROTOCOL)),6,$(FOLDS))
# Each seed once, in the order given (SEEDS="1 1" trains its folds once).
uniq = $(if $(1),$(firstword $(1)) $(call uniq,$(filter-out $(firstword $(1)),$(1))))
FOLD_RUNS := $(foreach seed,$(call uniq,$(SEEDS)),$(foreach fold,$(shell seq 0 $$(($(FOLD_COUNT) - 1))),fold-$(fold)-seed-$(seed)))

# Listed once FOLD_RUNS is defined (before, it expands to nothing and the fold targets are not phony).
.PHONY: variables reproduce eda preprocess finetune report protocols kfold $(FOLD_RUNS) baseline wheel test test-lowest lint clean notebook-outputs

kfold: variables $(FOLD_RUNS)
	$(NOTEBOOK_MAKE) protocols
	@echo
	@echo "Done: $(words $(FOLD_RUNS)) runs of profile '$(PROFILE)', protocol $(PROTOCOL), seeds $(SEEDS)."
	@$(PY) -m ser_utils.report --profile $(PROFILE_ARG) --seeds $(SEEDS) \
		--overrides $(call overrides,"protocol":"$(PROTOCOL)" "n_folds":$(FOLDS))
	@echo "  executed notebooks:  $(EXECUTED)/"

$(FOLD_RUNS): fold-%: $(VENV)/.installed variables
	mkdir -p $(EXECUTED)
	$(PAPERMILL) --log-output notebooks/03_finetune_wav2vec2.ipynb \
		$(EXECUTED)/03_finetune_wav2vec2_$(PROTOCOL)_fold$(word 1,$(subst -, ,$*))_seed$(word 3,$(subst -, ,$*)).ipynb \
		-p profile $(PROFILE_ARG) $(DATA_PARAM) -y 'overrides: '$(call overrides,"protocol":"$(PROTOCOL)" \
		"fold":$(word 1,$(subst -, ,$*)) "n_folds":$(FOLDS) "seed":$(word 3,$(subst -, ,$*)))

baseline: $(VENV)/.installed variables
	$(PY) -m ser_utils.baseline $(if $(DATA),--data $(if $(DATA_IS_ONE),'$(DATA_PATHS)',$(DATA_PATHS)),) --n-folds $(FOLDS) \
		$(if $(CORPORA),--corpora $(CORPORA),) $(if $(TEST_CORPORA),--test-corpora $(TEST_CORPORA),) \
		$(if $(filter whole,$(WINDOW)),--whole 10,)

wheel: $(VENV)/.installed
	rm -rf build dist/ser_utils-*.whl
	$(PY) -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist .
	@ls -l dist/ser_utils-*.whl

lint: $(VENV)/.installed
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)

test: lint
	$(PY) -m pytest -n $(TEST_WORKERS)

# The libraries the lowest-versions job replaces, and those its tests do not use (ONNX, the demo's browser test).
LOWEST := .venv-lowest
# Of prediction, the parts the libraries decide (loading, batching, int8, pipeline()); its command line and audio
# decoding do not depend on them, and every trained replica in test_checkpoints is predicted from its model folder.
PREDICT_LOWEST := $(addprefix tests/test_predict.py::test_,standard_pipeline_loads_the_saved_model \
	a_folder_of_another_model_type_is_refused batched_and_single_predictions_agree \
	int8_predictor_quantizes_every_linear_layer_and_stays_close preprocessing_is_read_from_the_model_folder)
# Resuming is checked at these versions for every encoder family (test_encoders); being killed first is the OS's part.
LOWEST_DESELECT := --deselect tests/test_train_runs.py::test_resume_after_sigkill_ends_like_an_uninterrupted_run
LOWEST_TESTS := tests/test_checkpoints.py tests/test_model.py tests/test_trainer.py tests/test_train.py \
	tests/test_train_runs.py $(PREDICT_LOWEST) tests/test_encoders.py tests/test_whole.py
$(LOWEST)/.installed: requirements.txt pyproject.toml .ci/lowest.txt
	test -x $(LOWEST)/bin/python || python3 -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install --quiet --upgrade pip
	grep -v -E '^(torch|transformers|accelerate|datasets|onnx|onnxruntime|gradio|selenium)==|^-e ' requirements.txt \
		| cat - .ci/lowest.txt > $(LOWEST)/requirements.txt
	@# torch 2.6.0 comes from PyPI with its CUDA libraries (about 3 GB): a download cut off is resumed, and the
	@# install tried again (pip's cache keeps what arrived whole), before the job gives up.
	for attempt in 1 2 3; do \
		$(LOWEST)/bin/python -m pip install --quiet --resume-retries 20 -r $(LOWEST)/requirements.txt -e . && break; \
		test $$attempt = 3 && exit 1; echo "pip install: attempt $$attempt failed; trying again"; sleep 10; \
	done
	touch $@

test-lowest: $(LOWEST)/.installed
	$(LOWEST)/bin/python -c "import torch, transformers, accelerate, datasets as d; \
		print('lowest versions: torch', torch.__version__, 'transformers', transformers.__version__, \
		'accelerate', accelerate.__version__, 'datasets', d.__version__)"
	$(LOWEST)/bin/python -m pytest -n $(TEST_WORKERS) -p no:cacheprovider $(LOWEST_TESTS) $(LOWEST_DESELECT)

variables: $(VENV)/.installed
	@$(CHECK_VARIABLES)

clean:
	rm -rf outputs .pytest_cache build dist

# Maintainers: after changing a notebook, store fresh outputs for nbval to compare against.
notebook-outputs: $(VENV)/.installed
	$(PY) .ci/store_notebook_outputs.py
