# reqscope's front door. Every target has a one-line help; `make help` lists them.
# Each target installs what it needs: Debian packages (as root) and a virtualenv per Python.

PYTHONS      ?= 3.11 3.12 3.13
DEFAULT_PY   := 3.11
PYTEST_ARGS  ?=
PY           := .venv/bin/python

.PHONY: help build demo test test-c test-py bench asan fuzz lint clean

help:            ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18

build:           ## Build the _core extension in place for the default Python.
	@tools/setup-env $(DEFAULT_PY)

demo: build      ## Build everything and profile a small SQLite workload.
	PYTHONPATH=$(CURDIR) $(PY) examples/demo.py

test: test-c     ## Run the C unit tests and pytest on CPython $(PYTHONS).
	@set -e; for v in $(PYTHONS); do \
	  venv=.venv; [ "$$v" = "$(DEFAULT_PY)" ] || venv=.venv-$$v; \
	  tools/setup-env $$v; \
	  echo "== pytest on CPython $$v"; \
	  $$venv/bin/python -m pytest -q tests/unit tests/integration $(PYTEST_ARGS); \
	done

test-c:          ## Build and run the C unit tests (tests/c).
	@tools/setup-system
	@$(MAKE) -s -C tests/c run

test-py: build   ## Run pytest on the default Python only.
	$(PY) -m pytest -q tests/unit tests/integration $(PYTEST_ARGS)

bench: build     ## Overhead and accuracy benchmarks, side by side with the peers.
	@tools/setup-env $(DEFAULT_PY) bench
	PYTHONPATH=$(CURDIR) $(PY) bench/run.py

asan:            ## C and Python tests under ASan and UBSan.
	@tools/asan

fuzz:            ## Run the libFuzzer target on the SQL fingerprint (FUZZ_SECONDS, default 300).
	@tools/fuzz

lint:            ## clang-format check on the C sources.
	@tools/setup-system clang-format
	@clang-format --dry-run --Werror common/*.[ch] dbhooks/*.[ch] report/*.[ch] sampler/*.[ch] \
	  memtrace/*.[ch] \
	  tests/c/*.[ch] tests/fuzz/*.c bench/*.c

clean:           ## Remove build products (not the virtualenvs).
	rm -rf build reqscope/*.so tests/c/build
