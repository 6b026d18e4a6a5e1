# Everything runs inside .venv, which this Makefile creates and keeps in step with pyproject.toml.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.pipec-installed
PIPEC  := $(VENV)/bin/pipec
BENCH_SCALE ?= 10

.PHONY: install demo test data bench clean fuzz golden

install: $(STAMP)

# Reinstall only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

data: $(STAMP)
	$(PY) scripts/get_data.py

demo: data
	$(PIPEC) run examples/flights/flight_delays.pipe
	@echo "--- metrics (out/flight_delays/metrics.json) ---"
	@cat out/flight_delays/metrics.json
	@echo

test: $(STAMP)
	$(PY) -m pytest -q

bench: data
	$(PY) scripts/scale_flights.py $(BENCH_SCALE)
	@found=0; for script in bench/bench_*.py; do [ -e "$$script" ] || continue; found=1; \
		echo "== $$script"; $(PY) "$$script" || exit 1; done; \
	[ $$found = 1 ] || echo "no benchmarks yet (bench/bench_*.py)"

clean:
	rm -rf out .pytest_cache .hypothesis build dist *.egg-info spark-warehouse metastore_db derby.log
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

# The differential tester for longer than CI runs it: FUZZ_COUNT programs from seed FUZZ_SEED at
# every optimizer setting, as many over Hive-partitioned datasets, a tenth as many over PostgreSQL
# tables (postgres_server); failures are minimised into out/fuzz/seed*/ (see tests/differential/).
# FUZZ_SPARK_COUNT of them also run on Spark and are compared with the local backend.
FUZZ_COUNT ?= 500
FUZZ_SPARK_COUNT ?= 20
FUZZ_SEED  ?= 1000
fuzz: $(STAMP)
	PIPEC_FUZZ_COUNT=$(FUZZ_COUNT) PIPEC_FUZZ_SPARK_COUNT=$(FUZZ_SPARK_COUNT) PIPEC_FUZZ_SEED=$(FUZZ_SEED) \
		$(PY) -m pytest -q -m fuzz -s tests/differential/test_differential.py tests/differential/test_postgres_source.py \
		tests/backends/conformance/test_differential_backends.py

# Generated code, IR JSON and explain output are snapshot-tested (tests/golden/); after a
# deliberate change, rewrite the snapshots and review the diff.
golden: $(STAMP)
	$(PY) -m tests.golden.snapshot --update
