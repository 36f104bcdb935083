# FaceMatch: `make run` serves the API locally, `make test` runs every test. Every target installs
# what it needs.
SHELL := /bin/bash
VENV ?= .venv
SAM_VENV ?= .venv-sam
PYTHON := $(VENV)/bin/python
export DEEPFACE_HOME ?= $(CURDIR)/.cache/deepface
export FACEMATCH_FACES_DIR ?= $(abspath $(CURDIR)/../shared/faces/deepface)
# The local stack and the tests read template.yaml, openapi.json and functions/ from here.
export FACEMATCH_PROJECT_ROOT := $(CURDIR)
# boto3 clients are built at the functions' init, which needs a region (Lambda always has one).
export AWS_DEFAULT_REGION ?= us-east-1
# A test reads the template with the SAM CLI's own function provider, in the SAM CLI's venv.
export FACEMATCH_SAM_PYTHON ?= $(abspath $(SAM_VENV))/bin/python
WEIGHTS_STAMP := $(DEEPFACE_HOME)/.deepface/weights/.provisioned
# The fast loop: neither the face model nor the photos nor any socket.
UNIT_TESTS := -m "not model and not network and not protocol" --disable-socket

.PHONY: install weights test test-unit test-protocol check lint mutation clean run sweep openapi bench-enroll bench-search bench-significance bench-every-face bench-duplicate-check bench-duplicates bench-quality

install: $(VENV)/.installed weights

$(VENV)/.installed: requirements-dev.txt $(wildcard layers/requirements*.txt) pyproject.toml cli/pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	test -x $(SAM_VENV)/bin/python || python3 -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet -r requirements-sam.txt
	touch $@

weights: $(WEIGHTS_STAMP)

$(WEIGHTS_STAMP): $(VENV)/.installed
	$(PYTHON) -m facematch.weights
	touch $@

test: install $(SAM_VENV)/.installed
	$(PYTHON) -m pytest -n 2 --dist loadgroup

# After every change: no model, no photos, no network; well under a minute.
test-unit: $(VENV)/.installed $(SAM_VENV)/.installed
	$(PYTHON) -m pytest -n 2 $(UNIT_TESTS)

# After a change to how anything is written: every write stopped at every S3 and DynamoDB call.
test-protocol: $(VENV)/.installed
	$(PYTHON) -m pytest -n 2 -m protocol

# The schemathesis fuzzing of the local stack at full length: 200 examples per operation and
# generation mode, where make test runs 50 (FACEMATCH_FUZZ_EXAMPLES sets either); a few minutes.
.PHONY: test-fuzz
test-fuzz: install
	FACEMATCH_FUZZ_EXAMPLES=$${FACEMATCH_FUZZ_EXAMPLES:-200} $(PYTHON) -m pytest tests/e2e/test_fuzz.py

# Lint, the template, and the committed OpenAPI document (CI runs this before make test).
check: install lint
	$(VENV)/bin/ruff check .
	$(PYTHON) -m facematch_local.openapi --check
	$(PYTHON) -m facematch_local.openapi_compat

lint: $(SAM_VENV)/.installed
	AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint

# Mutation testing of the core modules against the fast loop (not part of make test). mutmut
# imports mutated code from src/, so it runs on a copy of the tree with layers/ as src/. MUTANTS
# picks which mutants run (mutmut's name globs); the default takes about 15 minutes here.
MUTATION_DIR := .mutation
MUTANTS ?= facematch.access.* facematch.faces.*
mutation: $(VENV)/.installed $(SAM_VENV)/.installed
	rm -rf $(MUTATION_DIR) && mkdir -p $(MUTATION_DIR)
	cp -r layers $(MUTATION_DIR)/src
	cp -r tests functions local cli events template.yaml openapi.json pyproject.toml .dockerignore README.md $(MUTATION_DIR)/
	cd $(MUTATION_DIR) && $(CURDIR)/$(VENV)/bin/mutmut run --max-children 2 $(MUTANTS) > mutmut-run.log \
		|| { tail -n 40 mutmut-run.log; exit 1; }
	cd $(MUTATION_DIR) && $(CURDIR)/$(VENV)/bin/mutmut results | grep -v ': not checked$$' || true
	cd $(MUTATION_DIR) && $(CURDIR)/$(VENV)/bin/mutmut results --all true \
		| awk -F': ' '{count[$$2]++} END {for (status in count) print count[status], status}'

clean:
	rm -rf $(VENV) $(SAM_VENV) .cache .pytest_cache $(MUTATION_DIR)

run: install
	$(PYTHON) -m facematch_local

# Sweep every organization of the stack `make run` serves, now (FACEMATCH_ADMIN_KEY: the key it printed).
sweep: $(VENV)/.installed
	FACEMATCH_API_KEY="$${FACEMATCH_API_KEY:-$$FACEMATCH_ADMIN_KEY}" $(VENV)/bin/facematch sweep

# The Swagger page in headless Chromium, as docs/images/swagger.png (installs Chromium if it is missing).
.PHONY: swagger-screenshot
swagger-screenshot: $(VENV)/.installed
	command -v chromium >/dev/null || command -v chromium-browser >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(PYTHON) -m facematch_local.swagger_screenshot

# Regenerate openapi.json from the handlers' routes and models (make check verifies it is current).
openapi: install
	$(PYTHON) -m facematch_local.openapi

# Benchmarks print Markdown tables and write bench/results/*.json; they are not tests.
bench-enroll: install
	$(PYTHON) bench/enroll.py

bench-significance: install
	$(PYTHON) bench/significance.py

bench-every-face: install
	$(PYTHON) bench/every_face.py

bench-quality: install
	$(PYTHON) bench/quality.py

# What the duplicate check adds to one enrollment, warm and cold. SIZES from the environment or the
# command line overrides the default here (bench-search's default is not this one's).
DUPLICATE_CHECK_SIZES := 100000,1000000
bench-duplicate-check: install
	SIZES=$(if $(filter-out file,$(origin SIZES)),$(SIZES),$(DUPLICATE_CHECK_SIZES)) $(PYTHON) bench/duplicate_check.py

# An organization-wide duplicate report, fanned out over 1 then 2 local worker processes, against
# the bare matrix product; and its projection to 1M and 10M faces on Lambda. SIZES as above;
# WORKERS (default 1,2) from the environment. No face model: the faces are synthetic.
DUPLICATE_REPORT_SIZES := 100000,300000
bench-duplicates: $(VENV)/.installed
	SIZES=$(if $(filter-out file,$(origin SIZES)),$(SIZES),$(DUPLICATE_REPORT_SIZES)) $(PYTHON) bench/duplicates.py

SIZES ?= 10000,100000,1000000
bench-search: install
	$(PYTHON) -m pip install --quiet -r bench/requirements.txt
	SIZES=$(SIZES) $(PYTHON) bench/search.py
