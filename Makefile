# Thin wrappers over go and tsemlab; see README.md.
GO ?= go
TSEMLAB := bin/tsemlab
SCENARIOS ?= scenarios/
RUNFLAGS ?=

.PHONY: run test unit bench lint images deps build clean

## run: install what is missing, build, boot the default kernel, run every scenario
run: deps build
	$(TSEMLAB) run $(RUNFLAGS) $(SCENARIOS)

## test: everything CI runs: unit tests, then integration tests that boot QEMU
test: deps
	$(GO) vet ./...
	$(GO) test -timeout 45m ./...

## unit: unit tests only (no QEMU boots)
unit:
	$(GO) test -short ./...

## bench: cold boot vs bare boot and restores (5 runs), suites at -j1 and -j2 cold and restored (3 runs), cache-hit overhead;
## the stock kernel, and TSEMLAB_BENCH_KERNELS=NAME=bzImage,... side by side (docs/performance.md)
bench: deps
	$(GO) test -run '^$$' -bench 'BenchmarkBoot' -benchtime 5x -timeout 60m ./harness/runner
	$(GO) test -run '^$$' -bench 'BenchmarkSuite|BenchmarkPrepareCacheHit' -benchtime 3x -timeout 120m ./harness/runner

## lint: gofmt, go vet, staticcheck when installed
lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) vet ./...
	@if command -v staticcheck >/dev/null; then staticcheck ./...; fi

## images: build (or find cached) the guest initramfs for the default kernel and the images/ root filesystems
images: deps build
	$(TSEMLAB) image build

deps:
	@./scripts/install-deps.sh

build:
	$(GO) build -o $(TSEMLAB) ./cmd/tsemlab

clean:
	rm -rf bin results
