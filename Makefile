SHELL := /bin/bash
# Two commands work on a fresh machine with nothing but Python 3.10+:
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

.PHONY: help venv book test unit notebooks book-check bench checkpoint clean

help:
	@echo "make book    build the book into _build/html (notebooks run in fast mode; FULL=1 for the full lessons)"
	@echo "make test    unit tests + every notebook (nbval, fast mode) + strict book build"
	@echo "make bench   notebook wall time and peak memory (FULL=1: the full lessons, GPU expected), and labkit.train overhead -> bench/results/"
	@echo "make checkpoint  retrain lecture 5's small Mask R-CNN (labkit/weights; ~25 min on 2 CPU cores)"
	@echo "make homework  generate notebooks/ (student) and notebooks/solutions/ from homework/source (CHECK=1: only check)"
	@echo "make grade SUBMISSIONS=folder  grade hand-ins with the hidden cases -> $(GRADES)/grades.csv, report.md"
	@echo "make clean   remove build outputs (keeps .venv)"

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
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
	$(MAKE) --no-print-directory notebooks
	$(MAKE) --no-print-directory book-check

# Unit tests and every notebook (lectures and solutions) in one pytest run. Two workers share the
# two cores, so each kernel gets one thread (two threads each would oversubscribe and run 3x slower).
notebooks: $(STAMP)
	LABKIT_FAST=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile --nbval-lax tests notebooks

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests

# The book with execution off and warnings as errors: broken links, toc entries and directives fail.
book-check: $(STAMP)
	rm -rf _build/check && mkdir -p _build
	sed 's/execute_notebooks: cache/execute_notebooks: "off"/' _config.yml > _build/check_config.yml
	grep -q 'execute_notebooks: "off"' _build/check_config.yml
	$(BIN)/jupyter-book build . --builder html --path-output _build/check \
	    --config _build/check_config.yml -W -n --keep-going 2>&1 | tee _build/check.log; \
	    exit $${PIPESTATUS[0]}

bench: $(STAMP)
	$(BIN)/python bench/notebooks.py $(if $(filter 1,$(FULL)),--full)
	$(BIN)/python bench/train_overhead.py

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
