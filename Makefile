# batchrun: make demo | make test | make bench
# Each target first installs the system libraries (libzstd-dev, liblz4-dev) when missing.

SWIFT ?= swift
DEMO_RECORDS ?= 1000000
BIN_RELEASE := .build/release/batchrun

.PHONY: deps build release demo test test-force-spill bench clean

deps:
	@if ! pkg-config --exists libzstd liblz4 2>/dev/null; then \
		echo "installing libzstd-dev and liblz4-dev with apt-get"; \
		SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && $$SUDO DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libzstd-dev liblz4-dev pkg-config; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

demo: release
	rm -rf demo-data
	$(BIN_RELEASE) demo --records $(DEMO_RECORDS) --out demo-data/lake/sample

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	$(MAKE) bench-smoke

# The operator micro-benchmarks at a tiny size, so they cannot rot (run by `make test`).
bench-smoke: deps
	cd Bench && BENCH_SMOKE=1 $(SWIFT) package --allow-writing-to-package-directory benchmark --no-progress --quiet

# Full-size benchmarks (10M rows): minutes, not for CI.
bench: deps release
	cd Bench && $(SWIFT) package --allow-writing-to-package-directory benchmark --no-progress

clean:
	rm -rf .build Bench/.build demo-data
