# Thin wrappers over go and tsemlab; see README.md.
GO ?= go
TSEMLAB := bin/tsemlab
SCENARIOS ?= scenarios/
RUNFLAGS ?=
TEST_RESULTS ?= $(CURDIR)/test-results
# make kernel: the source (tree, GIT_URL@REF or tarball), patches, base and fragments
SOURCE ?= /usr/src/linux-source-6.12.tar.xz
PATCHES ?=
BASE ?= tinyconfig
FRAGMENTS ?= kernel/config/virt.config

.PHONY: run test unit bench lint images kernel deps build clean

## run: install what is missing, build, boot the default kernel, run every scenario
run: deps build
	$(TSEMLAB) run $(RUNFLAGS) $(SCENARIOS)

## test: everything CI runs: unit tests, then integration tests that boot QEMU.
## Prints go test's usual lines, then every skipped test with its reason and
## a closing "tests: N passed, N failed, N skipped". The VM tests keep their
## results (results.json, junit.xml, console logs) in $(TEST_RESULTS), with
## go test's JSON events in $(TEST_RESULTS)/go-test.json, for CI to upload.
test: deps
	$(GO) vet ./...
	rm -rf $(TEST_RESULTS) && mkdir -p $(TEST_RESULTS)
	TSEMLAB_TEST_RESULTS=$(TEST_RESULTS) $(GO) run ./scripts/testsummary -go $(GO) -json $(TEST_RESULTS)/go-test.json -- -timeout 45m ./...

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

## kernel: build (or find cached) a bzImage: make kernel SOURCE=~/linux FRAGMENTS="kernel/config/virt.config kernel/config/tsem.config"
kernel: build
	$(TSEMLAB) kernel build --source $(SOURCE) --base $(BASE) $(addprefix --fragment ,$(FRAGMENTS)) $(if $(PATCHES),--patches $(PATCHES))

deps:
	@./scripts/install-deps.sh

build:
	$(GO) build -o $(TSEMLAB) ./cmd/tsemlab

clean:
	rm -rf bin results $(TEST_RESULTS)
