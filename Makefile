# etlq — see README.md. Every target that needs servers starts them first
# with scripts/services up (installing MariaDB and ClickHouse when missing).

SHELL := /usr/bin/env bash
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
# Packages tested in parallel; the servers are shared, so keep it small.
TEST_P ?= 2
TEST_TIMEOUT ?= 14m
# Tests of one package run at once (cmd/etlq: most wait on the servers).
TEST_PARALLEL ?= 4
TEST_FLAGS ?=
# A tmpfs for the tests' scratch files (TMPDIR) and, in a fresh .scratch,
# ClickHouse's data: on an ext4 without a journal (CI's disks) creating a
# file scans the inodes deleted in the last seconds, and the suite creates
# and deletes hundreds of thousands (ClickHouse's parts, state files): a
# tenth of its CPU. Empty (the default TMPDIR, data in .scratch) when the
# machine has no tmpfs with 2 GiB free (a container's /dev/shm is often
# 64 MiB) that can run a program (TestMain builds etlq there).
TEST_TMPFS ?= $(shell d=/dev/shm/etlq-$$(id -u); [ "$$(df -Pk /dev/shm 2>/dev/null | awk 'NR==2 {print $$4}')" -ge 2097152 ] 2>/dev/null && mkdir -p "$$d" 2>/dev/null && cp /bin/true "$$d/.exec-check" 2>/dev/null && "$$d/.exec-check" && echo "$$d")
BENCH ?= .
BENCHTIME ?= 1x
PKGS ?= ./...

.PHONY: all build services services-down services-status test test-fixtures bench demo fmt fmt-check vet clean distclean

all: build

## build: compile bin/etlq (-buildvcs=auto: `etlq version` names the commit even where GOFLAGS turns stamping off)
build:
	$(GO) build -buildvcs=auto -o bin/etlq ./cmd/etlq

## services: install (when missing) and start MariaDB A/B and ClickHouse
services:
	scripts/services up

## services-down: stop the servers (data stays in .scratch/)
services-down:
	scripts/services down

services-status:
	scripts/services status

## test-fixtures: etlq test over every example's fixtures (examples/testdata/; no server)
test-fixtures: build
	@for f in examples/*.etl; do bin/etlq test "$$f" || exit 1; done

## test: the examples' fixtures, then start the servers and run every test
## against them (TestExampleFixtures runs the fixtures again, in go test)
test: test-fixtures
	tmpfs='$(TEST_TMPFS)'; \
	ETLQ_CLICKHOUSE_TMPFS="$$tmpfs" scripts/services up >/dev/null && \
	eval "$$(scripts/services env)" && \
	if [ -n "$$tmpfs" ]; then mkdir -p "$$tmpfs/tmp" && export TMPDIR="$$tmpfs/tmp"; fi && \
		$(GO) test -count=1 -p $(TEST_P) -parallel $(TEST_PARALLEL) -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) $(PKGS)

## bench: start the servers, then run every benchmark: the packages' for 1s
## each (BENCH_MICRO_TIME), the end-to-end 1M-row ones of cmd/etlq once
## (BENCHTIME); figures and commands in docs/benchmarks.md
bench: services
	eval "$$(scripts/services env)" && \
	pkgs="$$($(GO) list $(PKGS))" && \
	micro="$$(grep -v '/cmd/etlq$$' <<<"$$pkgs" || true)" && \
	e2e="$$(grep '/cmd/etlq$$' <<<"$$pkgs" || true)" && \
	{ [ -z "$$micro" ] || $(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(or $(BENCH_MICRO_TIME),1s) -benchmem -p 1 -timeout $(TEST_TIMEOUT) $$micro; } && \
	{ [ -z "$$e2e" ] || $(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -timeout $(or $(BENCH_TIMEOUT),45m) $$e2e; }

## demo: servers, demo shop data with a live writer, and etlq apply examples/shop.etl
demo:
	scripts/demo

fmt:
	$(GO) fmt ./...

## fmt-check: fail when a file is not gofmt-ed
fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; \
		if [ -n "$$out" ]; then echo "not gofmt-ed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

## clean: remove build output (servers and their data are untouched)
clean:
	rm -rf bin

## distclean: also stop the servers and delete their data (.scratch/)
distclean: clean
	scripts/services down
	if [ -s .scratch/clickhouse/data-dir ]; then rm -rf "$$(cat .scratch/clickhouse/data-dir)"; fi
	rm -rf .scratch .etlq
