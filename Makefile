# The two commands of README: `make demo` and `make test`. Both set up first (containers/install.sh
# is the one install path; it returns in seconds when nothing changed).
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup test demo bench container-test slurm-start slurm-stop slurm-status

setup:
	bash containers/install.sh $(VENV)

test: setup
	$(PYTHON) -m pytest $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/xraymass demo --config pipeline/demo.yaml

bench: setup
	@set -e; for b in benchmarks/bench_*.py; do echo "== $$b"; $(PYTHON) $$b; done

# the CPU OCI image built here from a debootstrap root file system, and the smoke test inside it
# (docs/container.md); not part of `make test`
container-test:
	bash containers/container-test.sh

slurm-start slurm-stop slurm-status:
	bash site_configs/local/slurm.sh $(@:slurm-%=%)
