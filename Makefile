# FaceMatch: `make run` serves the API locally, `make test` runs every test. Both install what they need.
SHELL := /bin/bash
VENV ?= .venv
PYTHON := $(VENV)/bin/python
export DEEPFACE_HOME ?= $(CURDIR)/.cache/deepface
export FACEMATCH_FACES_DIR ?= $(abspath $(CURDIR)/../shared/faces/deepface)
# boto3 clients are built at the functions' init, which needs a region (Lambda always has one).
export AWS_DEFAULT_REGION ?= us-east-1
WEIGHTS_STAMP := $(DEEPFACE_HOME)/.deepface/weights/.provisioned

.PHONY: install weights test lint clean run openapi bench-enroll bench-search

install: $(VENV)/.installed weights

$(VENV)/.installed: requirements-dev.txt $(wildcard layers/requirements*.txt) pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements-dev.txt
	touch $@

weights: $(WEIGHTS_STAMP)

$(WEIGHTS_STAMP): $(VENV)/.installed
	$(PYTHON) -m facematch.weights
	touch $@

test: install
	$(PYTHON) -m pytest -n 2 --dist loadgroup

lint: install
	AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 $(VENV)/bin/sam validate --lint

clean:
	rm -rf $(VENV) .cache .pytest_cache

run: install
	$(PYTHON) -m facematch.local

# Regenerate openapi.json from the handlers' routes and models (a test checks it is current).
openapi: install
	$(PYTHON) -m facematch.local.openapi

# Benchmarks print Markdown tables and write bench/results/*.json; they are not tests.
bench-enroll: install
	$(PYTHON) bench/enroll.py

SIZES ?= 10000,100000,1000000
bench-search: install
	SIZES=$(SIZES) $(PYTHON) bench/search.py
