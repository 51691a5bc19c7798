# tipbench: the Makefile's targets are the project's vocabulary.
#   make demo   set everything up, start the local stack, run a small real benchmark
#   make test   run the test suite (needs a Redis; starts its own MLflow server)
#   make test-fast  the fast tier: no MLflow server, no worker processes (under a minute)
#   make up / make down / make lint / make typecheck / make check / make bench

VENV      ?= .venv
PY        := $(VENV)/bin/python
TIPBENCH  := $(VENV)/bin/tipbench
VAR       ?= $(or $(TIPBENCH_VAR_DIR),var)
REPORTERS ?= 1
# llama.cpp is compiled by pip; a native build crashes in the AMX kernel on some CPUs.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
# The admin token: TIPBENCH_ADMIN_TOKEN if set, else a random one kept in $(VAR)/admin-token.
WITH_TOKEN := TIPBENCH_ADMIN_TOKEN="$${TIPBENCH_ADMIN_TOKEN:-$$(cat $(VAR)/admin-token)}"

.PHONY: install install-dev up down demo test test-fast test-reliability lint typecheck check bench clean

# install: what the stack and the demo need; install-dev adds the test, lint and type tools.
install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install --quiet -e ".[embedded,server]"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install --quiet -e ".[embedded,server,dev]"
	touch $@

$(VAR)/admin-token:
	mkdir -p $(VAR)
	umask 077 && $(PY) -c 'import secrets; print(secrets.token_urlsafe(32))' > $@

up: install $(VAR)/admin-token
	$(WITH_TOKEN) $(TIPBENCH) up --reporters $(REPORTERS)

down: install $(VAR)/admin-token
	$(WITH_TOKEN) $(TIPBENCH) down

demo: install $(VAR)/admin-token
	$(WITH_TOKEN) $(TIPBENCH) demo
	@echo "admin token: $(VAR)/admin-token (stop the stack with: make down)"

test: install-dev
	$(PY) -m pytest --ignore=tests/reliability

# Pure functions, actor wiring on dramatiq's StubBroker, the stores on Redis: every test
# that needs no MLflow server, no worker process and no embedded model (see conftest.py).
test-fast: install-dev
	$(PY) -m pytest --ignore=tests/reliability -m "not full"

# The fault-injection suite (workers killed, Redis restarted, MLflow down, bad input,
# load): several minutes; figures in var/reliability-results.json, see docs/reliability.md.
test-reliability: install-dev
	$(PY) -m pytest tests/reliability

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install-dev
	$(VENV)/bin/mypy shared services tipbench testkit bench

check: lint typecheck test-fast test

# The benchmarks behind docs/performance.md (several minutes; run on a quiet machine;
# gateway_load needs wrk: apt-get install wrk; promptfoo_compare needs node and npm and
# installs promptfoo into var/bench/promptfoo, never into the project).
bench: install-dev
	$(PY) -m bench.collector_overhead
	$(PY) -m bench.reporter_rebuild
	$(PY) -m bench.report_build
	$(PY) -m bench.gateway_load
	$(PY) -m bench.recorder_backends
	$(PY) -m bench.queue_metrics
	$(PY) -m bench.idle_wakeup
	$(PY) -m bench.multihost
	$(PY) -m bench.parallel_slots
	$(PY) -m bench.promptfoo_compare

clean: down
	rm -rf $(VAR)
