# Two commands for a fresh machine: `make demo` and `make test`. Both build the virtual
# environment first if it is missing or older than the project's dependency list.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.nuclassify-installed
DEMO_DIR ?= demo_out
PYTEST_WORKERS ?= 2
# The third Keras backend, so the suite trains on all three. 2.13.0 is the CPU build that lies on
# disk on our CI machines (pip takes it from there); elsewhere pick your own, or `make test TORCH=`.
TORCH ?= torch==2.13.0

.PHONY: venv demo test lint bench bench-evolve bench-gpu physics-report reproduce-quick reproduce readme-results clean

$(STAMP): pyproject.toml setup.cfg Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]' $(TORCH)
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash examples/demo.sh $(DEMO_DIR)

test: $(STAMP)
	$(PY) -m pytest -n $(PYTEST_WORKERS) -q

lint: $(STAMP)
	$(VENV)/bin/ruff check nuclassify tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

# Evolution against random search (5 seeds, digits and MINERvA) and against Keras Tuner: 1-2 hours.
bench-evolve: $(STAMP)
	$(PY) benchmarks/run_all.py evolve

bench-gpu: $(STAMP)
	bash benchmarks/gpu/run_gpu_bench.sh

# The simulator's physics against its references: physics_report/report.json and PNGs.
physics-report: $(STAMP)
	$(VENV)/bin/nuclassify simulate report -o physics_report -n $(or $(REPORT_EVENTS),20000)

# The seed talk's study end to end (examples/reproduce_seed.sh): quick on 2 CPU cores in under
# 30 minutes; full size is a GPU job (about 2 hours). Resumable; results in $(REPRODUCE_DIR)/.
REPRODUCE_DIR ?= reproduce_out
reproduce-quick: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash examples/reproduce_seed.sh quick $(REPRODUCE_DIR)

reproduce: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash examples/reproduce_seed.sh full $(REPRODUCE_DIR)

# The README's Results section, generated from a reproduce run's results.json.
readme-results: $(STAMP)
	$(PY) examples/write_readme_results.py $(REPRODUCE_DIR)/results.json README.md --figures examples/results

clean:
	rm -rf $(DEMO_DIR) bench_out reproduce_out .pytest_cache
