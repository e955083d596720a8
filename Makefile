# tritforge: `make demo` and `make test` are the two commands a new user needs.
# Both run `setup` first; setup is idempotent and takes about a second once done.
VENV    ?= .venv
PY      := $(VENV)/bin/python
PYTEST  := $(PY) -m pytest
JOBS    ?= 2

.PHONY: setup demo test test-full bench notebooks clean

setup:
	@bash scripts/setup.sh

demo: setup
	@$(VENV)/bin/tritforge demo

# The default suite: unit tests plus a representative subset of the RTL tests.
test: setup
	$(PYTEST) -n $(JOBS) --durations=15

# Everything, including the slow RTL sweeps on both simulators.
test-full: setup
	$(PYTEST) -n $(JOBS) --runslow --durations=25

bench: setup
	$(PY) -m benchmarks

# Every notebook of notebooks/ at full size: executed copies in build/notebooks, figures in docs/figures.
notebooks: setup
	$(PY) -m tritforge.app.notebooks --size full

clean:
	rm -rf build .pytest_cache .hypothesis
