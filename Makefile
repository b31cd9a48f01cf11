# The two commands of the README: `make lab` (the demo) and `make test` (everything CI runs). Each installs
# what it needs on Debian when run as root: scripts/deps-lab.sh only what the demo uses, scripts/deps-test.sh
# everything (the lab's share and the tests' real peers); neither stops a system service.
GO ?= go
GOBIN := $(shell $(GO) env GOPATH)/bin
BIN := bin/hairpin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

.PHONY: all build deps deps-lab lab test lint unit bench fuzz dist clean

all: build

deps-lab:
	./scripts/deps-lab.sh

deps:
	./scripts/deps-test.sh

# build is CGO off, as dist builds the release: a cgo binary loads libc and starts its threads through it, a
# millisecond more for every command (3.4 ms against 2.4 for --version), which make bench would then count.
build:
	CGO_ENABLED=0 $(GO) build -tags lab -ldflags "-X main.version=$(VERSION) -X main.commit=$(COMMIT)" -o $(BIN) ./cmd/hairpin

lab: deps-lab build
	./$(BIN) lab --ipv6

lint:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags lab ./cmd/hairpin
	$(GOBIN)/staticcheck -tags lab ./...

test: deps lint
	$(GO) test -race -count=1 -timeout 30m ./...

# unit runs what needs neither root nor the lab: every package but integration, with the tests that need root
# skipped (HAIRPIN_UNIT, see internal/netns/netnstest) even when run as root. No deps, no race detector: the
# quick check before a commit; make test is what CI runs.
unit:
	HAIRPIN_UNIT=1 $(GO) test -count=1 $$($(GO) list ./... | grep -v '/integration$$')

bench: deps build
	./scripts/bench-size.sh
	@echo
	./scripts/bench.sh
	@echo
	@echo "Daemon: reaction time to WAN address changes (100 changes; 60 with and without 64 status clients; 60 with and without 5 notify targets, one hanging, beside the status page's size) and to IPv6 LAN prefix changes (100 changes), idle memory and CPU at 4, 100 and 10,000 forwards beside a6ec2f7 (a table at the end of BenchmarkDaemonIdle)"
	$(GO) test -run '^$$' -bench . -benchtime 1x ./integration

# fuzz runs every fuzz target of the module for FUZZTIME each (go test runs their seed corpora in make test).
FUZZTIME ?= 10s
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

# dist builds the release into dist/: archives for seven architectures, .deb, .rpm and OpenWrt .ipk
# packages, SHA256SUMS (DIST_ARCHS=amd64 for one architecture).
dist:
	./scripts/dist.sh

clean:
	rm -rf bin dist/build
