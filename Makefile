# The DuckDB driver loads Arrow only with this build tag; every go command
# here gets it through GOFLAGS. The Go build cache (GOCACHE) is kept between
# runs: the first build compiles DuckDB's cgo bindings (~1 min), later ones
# reuse them. Nothing here cleans it.
SHELL   := bash
GO      ?= go
BIN     := bin/repairshop-export
export GOFLAGS := -tags=duckdb_arrow -buildvcs=false
# Race-built binaries exit at once rather than sleeping a second (see test).
export GORACE := atexit_sleep_ms=0

# An independent Parquet reader (hyparquet, pure JavaScript, from npm) that
# tests use to prove the files are readable by code that is not ours.
READER   := tools/parquet-reader
READER_OK := $(READER)/node_modules/.installed
export PARQUET_READER := $(abspath $(READER)/read.mjs)

.PHONY: all build test test-stress demo bench lint clean docs chaos fuzz screenshots

all: build

# The command is repairshop-export (not export, a shell builtin); -buildvcs
# puts the commit in its --version when this is a git checkout.
build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/repairshop-export

# The whole suite: formatting, vet, every test with the race detector,
# and each fuzz target for 10,000 inputs (their seed corpora, in each
# package's testdata/fuzz, already ran as tests). It ends with the 10
# slowest tests, the time per package and the time of each unit of work,
# so that a slow test is seen the day it lands.
#
# scripts/test.sh runs the tests and the fuzzing as units of work (a
# package, or part of one) that two workers, one per core, take from one
# queue, longest first, each unit running one test at a time. Measured on
# 2 cores: 4 tests at once in each of two packages at once took
# 850-1,000 s, 2 at once 820 s, 1 at once 782 s, and two fixed jobs of 1
# at once 681-709 s; the fixed jobs were even on one machine and 120 s
# apart on another, and a queue evens them to within a unit. More tests
# at once than cores only make each slower: every test is a DuckDB
# process's worth of work, and two already fill the cores. Each DuckDB
# gets one thread (EXPORT_THREADS) for the same reason; a test that needs
# the default says so.
#
# The lake's tests run many export processes at once; most of them run
# the built binary (EXPORT_TEST_BINARY) rather than the test binary, which
# the race detector slows several times over (one lake test still runs its
# processes under it). GORACE's atexit_sleep_ms=0 (above) spares every
# race-built binary the second it otherwise sleeps as it exits: 34 s on a
# slower 2-core machine (go test -race -run '^$' ./..., 102 s -> 68 s),
# spread over the 40 test binaries and the processes the tests start.
# The tests' folders go to a tmpfs when there is one (scripts/test.sh).
#
# On a 2-core AMD EPYC with a warm build cache: the two fixed jobs this
# replaced took 286 s; the queue 299-307 s on disk, 254 s on tmpfs. On a
# slower machine of the same kind the fixed jobs had taken 713 s, one
# ending 120 s before the other.
TEST_PARALLEL ?= 1
test: $(READER_OK) build
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory lint || exit 1; \
	EXPORT_THREADS=1 EXPORT_TEST_BINARY=$(abspath $(BIN)) GO=$(GO) TEST_PARALLEL=$(TEST_PARALLEL) \
		./scripts/test.sh; rc=$$?; \
	echo "make test: $$(( $$(date +%s) - start )) s"; \
	exit $$rc

# The timing stress check: the tests that involve processes, signals,
# sockets and deadlines, STRESS_COUNT (3) times each, with a neighbour
# process burning the core they are pinned to (scripts/test-stress.sh):
# about half a core. About 11 minutes here.
test-stress: $(READER_OK)
	GO=$(GO) ./scripts/test-stress.sh

# Every fuzz target, FUZZTIME each: none may panic, and each input must
# end in a clear error or a reject. A failing input is written to the
# package's testdata/fuzz/<target>/, where it stays as a test. FUZZTIME is
# a count of inputs (Nx), not a duration: Go 1.26's fuzzing coordinator
# can report its own deadline as a failure ("context deadline exceeded",
# go.dev/issue/75804) when a loaded machine slows a worker at the end of
# a timed run; a count has no deadline. 500000x is about two minutes a
# target here.
FUZZTIME ?= 500000x
FUZZ_TARGETS := transform:FuzzPage transform:FuzzDecoder transform:FuzzAppendJSON transform:FuzzParseTimestamp \
	transform:FuzzParseMoney transform:FuzzPlainDecimal \
	extract/mgr:FuzzDecode extract/repairops:FuzzDecode extract/listing:FuzzSplitArray extract/listing:FuzzRecordID config:FuzzLoad
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; echo "fuzz ./$$pkg $$fn for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$pkg || exit 1; \
	done

$(READER_OK): $(READER)/package.json $(READER)/package-lock.json
	cd $(READER) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Runs the real export against the built-in simulator and prints what it loaded.
demo: build
	./scripts/demo.sh $(BIN)

# The column reference, generated from the declarations (a test checks it).
docs:
	$(GO) run ./cmd/repairshop-export schema --markdown > docs/tables.md

# The figures that matter, each a ratio to DuckDB's own readers and writers
# (or the APIs' allowed rate) measured in the same run: one table on
# stdout, bench/results.json, a few minutes here. BENCHMARKS.md records the
# latest and how to read them. Not part of make test.
# The accounts-scaling rows run 10, 50 and 200 accounts of
# BENCH_ACCOUNT_TICKETS tickets each; issue 25 names 20000, which takes
# hours at today's speed, so the default is 200 (the whole bench then takes
# about 8 minutes on a 2-core machine).
BENCH_ACCOUNT_TICKETS ?= 200
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./transform ./load
	$(GO) run ./bench -bin $(BIN) -out bench/results.json -account-tickets $(BENCH_ACCOUNT_TICKETS)

# The long crash proof: a real export of both sources killed at CHAOS_KILLS
# seeded-random moments (make test kills it 10 times, each crash point at
# least once), a new seed each time
# unless CHAOS_SEED is given; a failure prints the seed that replays it.
CHAOS_KILLS ?= 200
CHAOS_SEED  ?= $(shell date +%s)
# The report's pictures in docs/ (docs/report-1400.png, docs/report-390.png),
# taken by the browser test at both widths it checks.
screenshots:
	EXPORT_REPORT_SCREENSHOTS=$(CURDIR)/docs $(GO) test -count=1 -run '^TestReportDrawsTheKPIQueriesInABrowser$$' ./cmd/export

chaos: $(READER_OK)
	EXPORT_CHAOS_KILLS=$(CHAOS_KILLS) EXPORT_CHAOS_SEED=$(CHAOS_SEED) \
		$(GO) test -count=1 -timeout 120m -v -run '^TestRandomKillsConverge$$' ./cmd/export

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin demo $(READER)/node_modules
