# The two commands of README: `make demo` and `make test`; `make science` is the science benchmark.
# All set up first (containers/install.sh is the one install path; it returns in seconds when nothing changed).
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup test demo bench science science-quick science-multiband science-bf16 container-test slurm-start slurm-stop slurm-status

setup:
	bash containers/install.sh $(VENV)

test: setup
	$(PYTHON) -m pytest $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/xraymass demo --config pipeline/demo.yaml

# The science benchmark (benchmarks/science.py): the paper-size chain on this machine, both stopping rules.
science: setup
	$(PYTHON) benchmarks/science.py --config pipeline/science.yaml

science-quick: setup
	$(PYTHON) benchmarks/science.py --config pipeline/science.yaml --quick

# the science benchmark with three energy bands as channels (runs/science-multiband), against `make science`
science-multiband: setup
	$(PYTHON) benchmarks/science.py --config pipeline/science.yaml --tag multiband \
	  --set 'stamps.bands=[[0.5, 1.2], [1.2, 2.0], [2.0, 7.0]]'

# the science benchmark trained in mixed bfloat16 (runs/science-bf16) on `make science`'s stamps, with the
# change of its scatter against `make science` by a paired cluster bootstrap (run `make science` first)
science-bf16: setup
	$(PYTHON) benchmarks/science.py --config pipeline/science.yaml --tag bf16 --set model.precision=mixed_bfloat16

bench: setup
	@set -e; for b in benchmarks/bench_*.py; do echo "== $$b"; $(PYTHON) $$b; done

# the CPU OCI image built here from a debootstrap root file system, and the smoke test inside it
# (docs/container.md); not part of `make test`
container-test:
	bash containers/container-test.sh

slurm-start slurm-stop slurm-status:
	bash site_configs/local/slurm.sh $(@:slurm-%=%)
