PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
KERNELS := $(VENV)/.kernels-stamp
DEMO := .demo
CHROMEDRIVER := /usr/bin/chromedriver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup demo test test-full test-fast lint clean

setup: $(STAMP) $(KERNELS) $(CHROMEDRIVER)

# Idempotent: reinstalls only when the project files change. torch is pinned by
# constraints.txt so no dependency can swap in a CUDA build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,lucene,onnx,generate,ray,milvus]'
	touch $(STAMP)

# The search kernels, compiled into numba's cache (beside the sources, in __pycache__) so
# the first search of a fresh install does not compile them (retrieval/warm.py). Again
# only when a kernel's source changes; about 2 minutes on a busy 2-core machine.
$(KERNELS): $(STAMP) $(wildcard retrieval/*.py) $(wildcard indexing/*.py)
	$(BIN)/python -m retrieval.warm
	touch $(KERNELS)

# Debian's headless Chromium and its driver, for the page's browser tests
# (tests/serving/ui). A file target: apt runs only while chromedriver is missing
# (chromium-driver depends on chromium, so one file stands for both).
$(CHROMEDRIVER):
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium chromium-driver

demo: setup
	$(BIN)/spire models pull splade-tiny
	$(BIN)/spire eval spire/data/cranfield --model splade-tiny --mode inference-free \
		--save-index $(DEMO)/cranfield-index --run-file $(DEMO)/cranfield.run --overwrite
	$(BIN)/spire search $(DEMO)/cranfield-index "heat transfer in hypersonic boundary layers" \
		-k 5 --corpus spire/data/cranfield
	$(BIN)/spire search $(DEMO)/cranfield-index "buckling of thin cylindrical shells under pressure" \
		-k 5 --corpus spire/data/cranfield
	@echo
	@echo "Next, the search, compare and evaluation page (then open http://127.0.0.1:8080/ui):"
	@echo "  $(BIN)/spire serve $(DEMO)/cranfield-index --qrels spire/data/cranfield --judgments $(DEMO)/grades.qrels --compare query-terms=3"

# CI runs `make test`; `make test-full` adds the checks repeated on full SciFact.
test: setup
	$(BIN)/python -m pytest -q -ra --durations=25 -m "not full"

test-full: setup
	$(BIN)/python -m pytest -q -ra --durations=25

test-fast: setup
	$(BIN)/python -m pytest -q -ra -m "not slow"

# Style, then the import contracts of .importlinter (layers, no cycles; docs/architecture.md).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(DEMO)
