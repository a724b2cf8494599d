# scim-edge — the two commands: `make serve` and `make test`. See README.md.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(CURDIR)/.tools/npm/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

WASM := target/wasm32-wasip1/release/scim-edge.wasm
EMULATOR := target/release/emulator
SHARED ?= $(CURDIR)/../shared

.PHONY: serve test setup setup-test build lint unit wasm-test e2e scim2-tester conformance package clean bench bench-cpu fuzz soak

## make serve: install what is missing, build, run the emulator and `fastly compute serve`.
serve: setup build
	scripts/serve.sh

## make test: everything CI runs.
test: setup-test
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory wasm-test
	$(MAKE) --no-print-directory build
	$(MAKE) --no-print-directory e2e
	$(MAKE) --no-print-directory scim2-tester
	@echo "make test: all passed"

setup:
	scripts/setup.sh

setup-test:
	scripts/setup.sh test

## The release module has a budget of 1.5 MB (WASM_MAX_BYTES): a build over it fails here, when it happens.
build:
	scripts/build-wasm.sh
	@wasm="$${CARGO_TARGET_DIR:-target}/wasm32-wasip1/release/scim-edge.wasm"; size=$$(stat -c %s "$$wasm"); \
	  max=$${WASM_MAX_BYTES:-1500000}; echo "release wasm: $$size bytes (budget $$max)"; \
	  [ "$$size" -le "$$max" ] || { echo "error: $$wasm is over its budget of $$max bytes" >&2; exit 1; }
	cargo build -p scim-edge-emulator --release

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --lib --bins --target wasm32-wasip1 -- -D warnings

## Host tests: the core and the emulator.
unit:
	cargo test --workspace --lib --bins
	cargo test -p scim-edge-emulator

## The Fastly adapter, inside Viceroy (runner in .cargo/config.toml).
wasm-test:
	cargo nextest run --target wasm32-wasip1 --lib -E 'test(/^edge::/)'

## End-to-end: the emulator + Viceroy + real HTTP.
e2e:
	SCIM_EDGE_WASM=$(CURDIR)/$(WASM) SCIM_EDGE_EMULATOR=$(CURDIR)/$(EMULATOR) \
	  cargo test -p scim-edge --test '*' --no-fail-fast -- --test-threads 2

scim2-tester:
	scripts/conformance.sh scim2-tester

## Okta's SPEC test and Microsoft's Postman tests, from $(SHARED)/conformance.
conformance: setup-test build
	SHARED=$(SHARED) scripts/conformance.sh all

## Requests/s and latency of scim-edge under Viceroy, next to a floor and scim2-server, for 1,000 and
## 100,000 users (~10 min); writes docs/PERFORMANCE.md. Quick: BENCH_USERS=1000 BENCH_LIST_SIZES= BENCH_SECONDS=3 make bench
bench: setup
	scripts/bench.sh

## CPU per request of the core handler on the host (benches/core.rs), for 1,000 and 100,000 users; `make bench`
## runs it too. Sizes: BENCH_CPU_USERS="1000 100000"; time per operation: BENCH_CPU_SECONDS=1
bench-cpu:
	cargo bench --bench core

## Each fuzz target (fuzz/) for 10 minutes, with cargo-fuzz on a nightly toolchain; skipped without one.
## `make unit` runs the stable fuzz smoke on any toolchain. Figures: docs/RELIABILITY.md.
fuzz:
	scripts/fuzz.sh 600

## Mixed SCIM reads and writes from 16 connections for 60 s against a private stack, then the audit of
## tests/chaos.rs; fails on any 5xx. Not part of `make test`. Figures: docs/RELIABILITY.md.
## Other sizes: make soak SOAK_SECONDS=300 SOAK_CONNECTIONS=32
SOAK_SECONDS ?= 60
SOAK_CONNECTIONS ?= 16
soak: setup
	scripts/soak.sh $(SOAK_SECONDS) $(SOAK_CONNECTIONS)

## The deployable package (pkg/scim-edge.tar.gz), as `fastly compute publish` builds it.
package: setup
	fastly compute build -q --non-interactive

clean:
	cargo clean
	rm -rf pkg bin .tools
