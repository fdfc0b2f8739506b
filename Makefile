# mmaprig: `make run` and `make test` do all set-up themselves.
GO      ?= go
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PKGS := qemu-system-x86 build-essential flex bison bc libelf-dev libssl-dev \
            cpio xz-utils kmod perl ca-certificates procps git sparse coccinelle ocaml-nox lcov \
            gcc-aarch64-linux-gnu qemu-system-arm \
            gdb gdb-multiarch chromium fonts-dejavu-core dwarves gcc-12
# The test suite builds kernels and boots VMs; this bounds it.
TEST_TIMEOUT ?= 85m

.PHONY: all run test test-short test-nightly bench lint deps go-deps

all: test

## run: set up, then run the rig with its defaults (Linux 6.1, module/).
## It builds bin/rig rather than `go run`, which would turn the rig's exit
## codes (1 module, 2 usage or setup, 3 no verdict) into 1.
run: deps
	@$(GO) build -o bin/rig ./rig
	./bin/rig $(ARGS)

## test: set up, then run every test, booting real VMs. The packages whose
## tests boot nothing run under the race detector; rig/ holds the
## end-to-end tests, which run the rig's own binary. Both halves run even
## when the first fails, and the target fails if either did.
test: deps
	@rc=0; \
	MMAPRIG_KERNEL_SRC="$$($(GO) run ./rig srcdir)" MMAPRIG_KERNEL_BUILD="$$($(GO) run ./rig kdir)" \
		$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $$($(GO) list ./... | grep -v '/rig$$') || rc=1; \
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./rig/ || rc=1; \
	exit $$rc

## test-short: unit tests and the verdict corpus; no kernel build, no VM
test-short: go-deps
	$(GO) test -short -race -count=1 ./...

## test-nightly: what `make test` leaves out to stay within its hour on 2
## cores: the whole kernel matrix (6.12 and 6.12-debug, the arm64 cells, 64K
## pages among them), the arm64 end-to-end tests (TestArm64Pages: the 64K
## kernel), -coverage (its own 6.1 kernel), the debug kernel's tests, the
## early end of the settle window (TestSettleEarly: the tracing kernel), and a
## kernel from a local git repository and one from a tarball a local server
## serves (TestGitKernel, TestTarballKernel). The nightly workflow runs it.
test-nightly: deps
	MMAPRIG_NIGHTLY=1 MMAPRIG_ARM64=1 $(GO) test -count=1 -timeout 200m -run 'TestMatrixRun|Arm64|TestCoverage|TestGitKernel|TestTarballKernel|TestDebugKernel|TestDecodedStack|TestGDBKernelScripts|TestSettleEarly|TestSettleHiddenLeftovers' ./rig/

## bench: the verdict corpus's speed, then each stage, cold and warm, against the boot floor
bench: deps
	$(GO) test -run '^$$' -bench Corpus ./rig/verdict/
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout $(TEST_TIMEOUT) ./rig/

## lint: gofmt and go vet on the rig; checkpatch --strict, sparse and Coccinelle on the driver (rig lint -strict)
lint: deps
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) run ./rig lint -strict -module module/

## deps: install the host packages (apt) and the Go modules
deps: go-deps
	@missing=$$(for p in $(APT_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "deps: installing $$missing"; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi
	@apt-cache show linux-source-6.1 >/dev/null 2>&1 || { echo "deps: refreshing apt lists for the kernel source packages"; $(SUDO) apt-get update -q; }

go-deps:
	@command -v $(GO) >/dev/null || { echo "deps: Go 1.21 or newer is needed (it fetches the 1.26 toolchain go.mod asks for); see https://go.dev/doc/install"; exit 2; }
	$(GO) mod download
