SHELL := /bin/bash
# Two commands work on a fresh machine with nothing but Python 3.11+ (the tests use tomllib):
#   make book   build the book (executes every notebook, LABKIT_FAST=1 unless FULL=1)
#   make test   unit tests, every notebook under nbval, and a strict book build
# Everything is installed into .venv from constraints.txt (the exact versions we test with).

PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV))/bin
STAMP  := $(VENV)/.installed
# The venv's bin first on PATH, so the notebooks' "python3" kernel is the venv's Python.
export PATH := $(BIN):$(PATH)

ifeq ($(FULL),1)
  MODE_ENV := LABKIT_FAST=0
  MODE     := full
else
  MODE_ENV := LABKIT_FAST=1
  MODE     := fast
endif

.PHONY: help venv book test unit notebooks lint book-check browser-test test-colab-like bench checkpoint clean

help:
	@echo "make book    build the book into _build/html (notebooks run in fast mode; FULL=1 for the full lessons)"
	@echo "make test    lint + unit tests + every notebook (nbval, fast mode) + strict book build + browser check of every page"
	@echo "make lint    ruff over the code and notebooks; the GitHub workflow against its schema"
	@echo "make test-colab-like  unit tests in a fresh venv without constraints.txt (whatever pip resolves, as on Colab)"
	@echo "make bench   notebook wall time and peak memory (FULL=1: the full lessons, GPU expected), and labkit.train overhead -> bench/results/"
	@echo "make checkpoint  retrain lecture 5's small Mask R-CNN (labkit/weights; ~25 min on 2 CPU cores)"
	@echo "make homework  generate notebooks/ (student) and notebooks/solutions/ from homework/source (CHECK=1: only check)"
	@echo "make grade SUBMISSIONS=folder  grade hand-ins with the hidden cases -> $(GRADES)/grades.csv, report.md"
	@echo "make clean   remove build outputs (keeps .venv)"

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	    echo "Python 3.11 or newer is needed (found $$($(PYTHON) --version)); run: make PYTHON=python3.11 ..."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (course .venv)" >/dev/null
	touch $(STAMP)

# Notebook results are cached by jupyter-cache; switching between fast and full mode clears the cache.
book: $(STAMP)
	@mkdir -p _build
	@if [ "$$(cat _build/.mode 2>/dev/null)" != "$(MODE)" ]; then rm -rf _build/.jupyter_cache; echo $(MODE) > _build/.mode; fi
	$(MODE_ENV) $(BIN)/jupyter-book build . --builder html
	@echo "Book built ($(MODE) mode): open file://$(abspath _build/html/index.html)"

test: $(STAMP)
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory notebooks
	$(MAKE) --no-print-directory book-check
	$(MAKE) --no-print-directory browser-test

# Unit tests and every notebook (lectures and solutions) in one pytest run. Two workers share the
# two cores, so each kernel gets one thread (two threads each would oversubscribe and run 3x slower).
notebooks: $(STAMP)
	LABKIT_FAST=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile --nbval-lax tests notebooks \
	    --ignore=tests/browser

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests --ignore=tests/browser

# Errors (undefined or unused names, syntax), not style, in the code and the notebooks' sources (the
# student notebooks import what only the removed solutions use, by design); the Pages workflow
# against GitHub's schema (it cannot run here; actionlint's PyPI wheel downloads a binary at build time).
lint: $(STAMP)
	$(BIN)/ruff check labkit tests scripts bench data_scripts homework/source
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

# The book with execution off and warnings as errors: broken links, toc entries and directives fail.
book-check: $(STAMP)
	rm -rf _build/check && mkdir -p _build
	sed -e 's/execute_notebooks: cache/execute_notebooks: "off"/' \
	    -e 's#unique_scripts: book/_ext#unique_scripts: ../book/_ext#' _config.yml > _build/check_config.yml
	grep -q 'execute_notebooks: "off"' _build/check_config.yml
	grep -q 'unique_scripts: ../book/_ext' _build/check_config.yml
	$(BIN)/jupyter-book build . --builder html --path-output _build/check \
	    --config _build/check_config.yml -W -n --keep-going 2>&1 | tee _build/check.log; \
	    exit $${PIPESTATUS[0]}

# Every page of the book built by book-check, in headless Chromium (Debian's package, installed here
# when missing): broken images, JavaScript errors, remote requests and untypeset math fail; screenshots
# of every page go to _build/browser.
browser-test: $(STAMP)
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	    echo "installing Debian's chromium for the browser test"; \
	    if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	    else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; }
	test -f _build/check/_build/html/index.html || $(MAKE) --no-print-directory book-check
	$(BIN)/python -m pytest -q tests/browser --book _build/check/_build/html --shots _build/browser

# As on Colab: no constraints file, so pip picks whatever versions satisfy pyproject.toml's floors
# (here: Python $(PYTHON), the newest wheels the package index has). Unit tests only.
COLAB_VENV := _build/colab-like-venv
test-colab-like:
	rm -rf $(COLAB_VENV) && $(PYTHON) -m venv $(COLAB_VENV)
	$(COLAB_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(COLAB_VENV)/bin/python -m pip install --quiet -e '.[dev]'
	$(COLAB_VENV)/bin/python --version && $(COLAB_VENV)/bin/python -m pip list 2>/dev/null | grep -E '^(torch|torchvision|numpy|scikit-learn) '
	$(COLAB_VENV)/bin/python -m pytest -q -n 2 --dist loadfile tests --ignore=tests/browser

bench: $(STAMP)
	$(BIN)/python bench/notebooks.py $(if $(filter 1,$(FULL)),--full)
	$(BIN)/python bench/train_overhead.py
	$(BIN)/python bench/retrieval.py

# Lecture 5's pretrained small Mask R-CNN (package data). Rerun after changing make_shapes_scene's defaults.
checkpoint: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python scripts/pretrain_small_mask_rcnn.py --out labkit/weights/small_mask_rcnn_shapes.pt

# Each lecture's student and instructor notebooks, generated from its one source (homework/README.md).
# CHECK=1 writes nothing and fails if a generated notebook is stale (the tests check the same).
.PHONY: homework
homework: $(STAMP)
	$(BIN)/python -m labkit.homework.assign $(if $(CHECK),--check)

# Homework (book/homework.md): every *.json in SUBMISSIONS, run sandboxed against the public and hidden cases.
# Run as root (e.g. in a container) so that each submission also runs as the user nobody.
GRADES ?= _build/grades
.PHONY: grade
grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder [GRADES=$(GRADES)]"; exit 2; }
	OMP_NUM_THREADS=1 $(BIN)/python -m labkit.homework grade $(SUBMISSIONS) --hidden homework/hidden --out $(GRADES)

clean:
	rm -rf _build
