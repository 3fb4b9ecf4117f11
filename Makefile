# Drydock — the two commands: `make run` and `make test`.
# Both start with an idempotent machine set-up (scripts/setup.sh); nothing
# here needs a nightly toolchain or cargo-leptos.

SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
# The server's <HydrationScripts> reads this at compile time to name the wasm
# file; scripts/build-site.sh produces pkg/drydock.{js,wasm,css}.
export LEPTOS_OUTPUT_NAME := drydock
export CARGO_TERM_COLOR ?= auto

DRYDOCK := target/debug/drydock

.PHONY: setup site server images run test test-unit lint fmt fuzz mutants mutants-parsers \
	bench-lessons bench-labs bench-grading bench-workshop bench-site

setup:
	@./scripts/setup.sh

# The hydrated site (target/site): release wasm, stylesheet, static assets.
site: setup
	./scripts/build-site.sh release

# The server binary.
server: setup
	cargo build -p drydock

images: server
	$(DRYDOCK) images build

# Drydock on http://127.0.0.1:3000 with SQLite under ./data and the local Docker engine.
run: site images
	$(DRYDOCK) serve

# Every test: unit, storage (SQLite + a PostgreSQL server the tests start),
# the real Docker engine, HTTP, and the browser.
test: site images
	timeout 45m cargo test -p drydock-grader -p drydock-app -p drydock --no-fail-fast

# The pure crates alone (parsers, checks, sandbox policy; UI helpers): seconds.
test-unit:
	cargo test -p drydock-grader -p drydock-app

# The parsers of run commands, Compose services and Dockerfiles, fuzzed with
# their property tests for ten minutes (fresh random cases
# every round).
fuzz: setup
	cargo test -p drydock-grader --lib --no-run
	@end=$$((SECONDS+600)); rounds=0; \
	while [ $$SECONDS -lt $$end ]; do \
	  DRYDOCK_FUZZ_CASES=20000 cargo test -p drydock-grader --lib --quiet -- \
	    never_panic round_trips >target/fuzz.log 2>&1 || { cat target/fuzz.log; exit 1; }; \
	  rounds=$$((rounds+1)); \
	done; echo "fuzzed for 10 minutes: $$rounds rounds of 20000 cases per property, no failure"

# Mutation testing of the grader (cargo-mutants): the code is changed in
# one small way at a time, and the grader's own tests must fail for each
# change. Two targets, each bounded to an hour on 2 cores (two jobs):
# `make mutants` every check evaluator (RUN, IMG, LIVE, the static
# Dockerfile checks and the secret heuristics) and the catalog,
# `make mutants-parsers` the parsers of what learners submit. A mutant
# that loops forever counts as caught after 20 s (the grader's tests take
# under 2). cargo-mutants exits 3 when a mutant hung, even when others
# were missed too, so a run passes on 0, or on 3 with an empty missed
# list. The lists of caught, missed and unviable mutants land in
# target/mutants/mutants.out; figures and timings are in BENCHMARKS.md.
MUTANTS = command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants@27.0.0; \
	timeout 60m cargo mutants -p drydock-grader -j 2 --timeout 20 -o target/mutants
MUTANTS_PASSED = rc=$$?; [ $$rc -eq 0 ] || { [ $$rc -eq 3 ] && [ ! -s target/mutants/mutants.out/missed.txt ]; }
mutants: setup
	$(MUTANTS) $(addprefix --file grader/src/checks/,run.rs image.rs secrets.rs live.rs catalog.rs lint.rs); $(MUTANTS_PASSED)

mutants-parsers: setup
	$(MUTANTS) $(addprefix --file grader/src/input/,run_command.rs run_spec.rs dockerfile.rs compose.rs lab_dockerfile.rs); $(MUTANTS_PASSED)

lint:
	cargo fmt --all --check
	cargo clippy -p drydock-grader -p drydock --all-targets -- -D warnings

fmt:
	cargo fmt --all

# Lesson page throughput and p99 vs a static file (release build, no LTO).
bench-lessons: site
	cargo bench -p drydock --bench lesson_page

# What a learner downloads: the hydrate bundle against its 350 KiB budget
# and the first view of every page (gzip -9; release build, no LTO).
bench-site: site
	cargo bench -p drydock --bench site_download

# Lab start (cold and warm pool) vs `docker run`, idle-lab memory, and
# keystroke echo vs a raw docker exec; then the docker CLI inside a lab
# through its endpoint vs the host's CLI (release build).
bench-labs: images
	cargo bench -p drydock --bench labs
	cargo bench -p drydock --bench lab_docker

# A run-config exercise graded end to end vs `docker run`, and a small
# Dockerfile exercise graded end to end (release build).
bench-grading: images
	cargo bench -p drydock --bench grading

# What watching a workshop costs (database queries/s with 1 vs 10 dashboards
# open), then 100 learners start a lab, submit and stop at once while an
# instructor watches the live dashboard: errors, queue places, lab start,
# grading and dashboard latency (release build, no LTO).
bench-workshop: images
	cargo bench -p drydock --bench workshop_load
