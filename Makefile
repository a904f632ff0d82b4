# promptproc: the two commands are `make demo` and `make test`.
# Each creates .venv (Python >= 3.12) when it is missing and installs the project first.

VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
WORKDIR   ?= demo-work
PYTEST_ARGS ?=

.PHONY: demo test lint format install services clean help

help:
	@echo "make demo   - set up and run promptproc on the embedded default (no external services)"
	@echo "make test   - set up, start the test services that are missing, run the tests and linters"
	@echo "make lint   - ruff check + format check"
	@echo "make clean  - remove the virtual environment and demo work directory"

$(PY):
	@py=$$(bin/find-python) && echo "creating $(VENV) with $$py" && $$py -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

services: $(STAMP)
	bin/ensure-services

demo: $(STAMP)
	$(VENV)/bin/promptproc demo --workdir $(WORKDIR)

test: $(STAMP)
	bin/ensure-services
	$(VENV)/bin/ruff check python tests benchmarks
	$(VENV)/bin/ruff format --check python tests benchmarks
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check python tests benchmarks
	$(VENV)/bin/ruff format --check python tests benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff format python tests benchmarks
	$(VENV)/bin/ruff check --fix python tests benchmarks

clean:
	rm -rf $(VENV) $(WORKDIR) .pytest_cache .ruff_cache
