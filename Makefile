# The two front-door commands: `make serve` and `make test`. Both bootstrap their own
# virtual environment from nothing but python3, so a fresh machine needs no other step.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: serve serve-aws test lint typecheck unit bench clean install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/jobgate serve $(ARGS)

# The aws backend against an embedded AWS emulator (moto): DynamoDB, SQS, S3, Secrets Manager.
serve-aws: $(STAMP)
	$(BIN)/jobgate aws-local $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/throughput.py

clean:
	rm -rf $(VENV) .jobgate .mypy_cache .pytest_cache .ruff_cache
