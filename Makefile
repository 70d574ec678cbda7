# batchrun: make demo | make test | make bench
# Each target first installs the system libraries (libzstd-dev, liblz4-dev) when missing.

SHELL := /bin/bash
SWIFT ?= swift
DEMO_RECORDS ?= 1000000
BIN_RELEASE := .build/release/batchrun

PREFIX ?= /usr/local
INSTALL_BIN ?= $(BIN_RELEASE)

.PHONY: deps build release demo install install-binary test oracle readers parquet-check spark-env spark-check spark-bench bench-smoke bench bench-thresholds clean

# Independent readers of what batchrun exports, pinned, from PyPI, in a virtual
# environment of the build folder (make readers).
PYENV := .build/pyenv
PY_READERS := pyarrow==18.1.0 duckdb==1.1.3 polars==1.17.1 pytz==2024.2 deltalake==0.22.3 fastparquet==2024.11.0

# pyspark for `make spark-check`, pinned, in its own environment (a large download, so
# not part of `make test`).
SPARKENV := .build/sparkenv
PY_SPARK := pyspark==4.3.0 pyarrow==18.1.0 zstandard==0.23.0
SPARK_RECORDS ?= 200000

deps:
	@if ! pkg-config --exists libzstd liblz4 2>/dev/null || ! command -v zstd >/dev/null || ! command -v python3 >/dev/null \
		|| ! python3 -c 'import venv, ensurepip' 2>/dev/null; then \
		echo "installing libzstd-dev, liblz4-dev, zstd, python3 and python3-venv with apt-get"; \
		SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libzstd-dev liblz4-dev pkg-config zstd python3 python3-venv || exit 1; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Builds in release mode and puts the binary at $(PREFIX)/bin/batchrun.
install: release
	$(MAKE) install-binary

# Copies $(INSTALL_BIN) to $(PREFIX)/bin/batchrun without building (`make install` builds first).
install-binary:
	install -d "$(DESTDIR)$(PREFIX)/bin"
	install -m 755 "$(INSTALL_BIN)" "$(DESTDIR)$(PREFIX)/bin/batchrun"

demo: release
	rm -rf demo-data
	$(BIN_RELEASE) demo --records $(DEMO_RECORDS) --dir demo-data

# The operator and spill suites run twice: once as they are, once with
# BATCHRUN_FORCE_SPILL=1, which shrinks their roomy budgets so every operator spills.
# Each suite writes its log to $(TEST_LOGS); the end is one line `N passed, N failed`
# per suite and one for all (Tests/summary.py), with a failing suite's failures.
TEST_LOGS := .build/test-logs

test: deps
	$(SWIFT) build --build-tests -q
	@mkdir -p $(TEST_LOGS); status=0; \
	echo "unit and CLI tests (log: $(TEST_LOGS)/tests.log)"; \
	$(SWIFT) test --skip-build --disable-xctest > $(TEST_LOGS)/tests.log 2>&1 || status=1; \
	echo "forced-spill tests (log: $(TEST_LOGS)/force-spill.log)"; \
	BATCHRUN_FORCE_SPILL=1 $(SWIFT) test --skip-build --disable-xctest --filter 'SpillTests|OperatorTests' > $(TEST_LOGS)/force-spill.log 2>&1 || status=1; \
	echo "oracle comparison (log: $(TEST_LOGS)/oracle.log)"; \
	$(MAKE) -s oracle > $(TEST_LOGS)/oracle.log 2>&1 || status=1; \
	echo "parquet and delta exports read by pyarrow, DuckDB, Polars and deltalake (log: $(TEST_LOGS)/parquet.log)"; \
	$(MAKE) -s parquet-check > $(TEST_LOGS)/parquet.log 2>&1 || status=1; \
	echo "benchmarks at smoke size (log: $(TEST_LOGS)/bench-smoke.log)"; \
	$(MAKE) -s bench-smoke > $(TEST_LOGS)/bench-smoke.log 2>&1 || status=1; \
	python3 Tests/summary.py $(TEST_LOGS) || status=1; \
	exit $$status

# Every table against Tests/Oracle/oracle.py, an independent reading of docs/TRANSACTIONS.md, on a
# hand-written landing zone of edge cases and a generated one, under several settings.
oracle: build
	python3 Tests/Oracle/compare.py --batchrun .build/debug/batchrun

# The pinned readers, installed once per build folder.
readers: deps $(PYENV)/ready

$(PYENV)/ready: Makefile
	rm -rf $(PYENV)
	python3 -m venv $(PYENV)
	$(PYENV)/bin/pip install -q --disable-pip-version-check $(PY_READERS)
	touch $@

# Every table of three lakes exported as Parquet with each codec and as Delta, read back
# by the independent readers, cell by cell against the CSV export
# (Tests/Parquet/check_exports.py); then a published lake, file by file and under
# SIGKILL (Tests/Parquet/publish_check.py).
parquet-check: build readers
	$(PYENV)/bin/python Tests/Parquet/check_exports.py --batchrun .build/debug/batchrun
	$(PYENV)/bin/python Tests/Parquet/publish_check.py --batchrun .build/debug/batchrun

# Spark needs Java 17 or later: Debian's OpenJDK 17 runtime when there is none.
spark-env: deps $(SPARKENV)/ready
	@if ! java -version 2>&1 | grep -qE 'version "(1[7-9]|[2-9][0-9])'; then \
		echo "installing openjdk-17-jre-headless with apt-get"; \
		SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless || exit 1; \
	fi

$(SPARKENV)/ready: Makefile
	rm -rf $(SPARKENV)
	python3 -m venv $(SPARKENV)
	$(SPARKENV)/bin/pip install -q --disable-pip-version-check $(PY_SPARK)
	touch $@

# The job `batchrun spark` writes for each pipeline of pipelines/, run with spark-submit
# in local[2] on a generated zone of $(SPARK_RECORDS) records and on the hand-written edge
# zones; every table compared with batchrun's, cell by cell (Tests/Spark/spark_check.py).
spark-check: release spark-env
	$(SPARKENV)/bin/python Tests/Spark/spark_check.py --batchrun $(BIN_RELEASE) --records $(SPARK_RECORDS)

# The price of a cluster: the Spark job in local[2] next to batchrun on the same 1M-record
# zones, time (median of 3) and the peak memory of each whole process tree
# (Tests/Spark/spark_bench.py).
spark-bench: release spark-env
	$(SPARKENV)/bin/python Tests/Spark/spark_bench.py --batchrun $(BIN_RELEASE) --records 1000000

# The operator micro-benchmarks at a tiny size, so they cannot rot (run by `make test`).
# package-benchmark reports a benchmark whose self-check threw ("failed with ...") but
# still exits 0, so the log is checked too.
bench-smoke: deps
	set -o pipefail; mkdir -p Bench/.build; \
	(cd Bench && BENCH_SMOKE=1 $(SWIFT) package --allow-writing-to-package-directory benchmark --no-progress) > Bench/.build/smoke.log 2>&1; \
	status=$$?; cat Bench/.build/smoke.log; [ $$status -eq 0 ] || exit $$status; \
	if grep -q "failed with" Bench/.build/smoke.log; then echo "bench-smoke: a benchmark failed its own check" >&2; exit 1; fi

# Full-size benchmarks (10M rows): minutes, not for CI. Each run is checked against the
# committed static thresholds in Bench/Thresholds (p90 per metric, with the tolerances of
# Bench/Benchmarks/BenchSupport). The plugin exits 1 both on a regression and on an
# improvement, so its log decides: a regression (or a failed self-check) fails; only
# improvements pass, and `make bench-thresholds` records them as the new thresholds.
bench: deps release
	mkdir -p Bench/.build; \
	(cd Bench && $(SWIFT) package benchmark thresholds check --path Thresholds --no-progress) > Bench/.build/bench.log 2>&1; \
	status=$$?; cat Bench/.build/bench.log; \
	if grep -q "failed with" Bench/.build/bench.log; then echo "bench: a benchmark failed its own check" >&2; exit 1; fi; \
	if grep -q "benchmarkThresholdRegression" Bench/.build/bench.log; then echo "bench: a regression against Bench/Thresholds (see above)" >&2; exit 1; fi; \
	if grep -q "benchmarkThresholdImprovement" Bench/.build/bench.log; then echo "bench: only improvements against Bench/Thresholds; make bench-thresholds records them"; exit 0; fi; \
	exit $$status

# Runs the full-size benchmarks and writes their p90s as the new Bench/Thresholds. The
# plugin writes file names with '_' for ' ' but reads them back with the benchmark's own
# name, so the names are turned back (benchmark names contain no '_').
bench-thresholds: deps
	set -o pipefail; mkdir -p Bench/.build; \
	(cd Bench && $(SWIFT) package --allow-writing-to-package-directory benchmark thresholds update --path Thresholds --no-progress) 2>&1 | tee Bench/.build/thresholds.log; \
	if grep -q "failed with" Bench/.build/thresholds.log; then echo "bench-thresholds: a benchmark failed its own check" >&2; exit 1; fi; \
	cd Bench/Thresholds && for f in *_*; do [ -e "$$f" ] && mv -f "$$f" "$$(echo "$$f" | tr _ ' ')"; done; true

clean:
	rm -rf .build Bench/.build demo-data
