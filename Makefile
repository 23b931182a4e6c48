# The two commands: `make demo` (engine + a reader) and `make test` (every test).
# Both install what they need and are safe to run again.

SHELL := /bin/bash
ENGINE := target/release/v2m-engine
PY := .venv/bin/python
# The tested engine has every host, cpal's native PipeWire host too (an opt-in cargo
# feature: it links libpipewire, which `make deps` installs); the demo's has the defaults.
TEST_FEATURES := --features v2m-engine/pipewire

.PHONY: demo test lint unit docs test-arm64 test-free-threaded wheels deps demo-deps lint-deps models build build-demo bench bench-long clean

# `make demo` installs only what the demo needs; `make test` adds the tools of the trade.
demo-deps:
	@scripts/install-deps.sh demo

deps:
	@scripts/install-deps.sh test

# The lint tools only, into .venv with pip: no apt, no model.
lint-deps:
	@scripts/install-deps.sh lint

models: demo-deps

build-demo: demo-deps
	cargo build --release --locked -p v2m-engine

build: deps
	cargo build --release --locked $(TEST_FEATURES)

demo: build-demo
	$(PY) pyclient/examples/vad_demo.py --engine $(ENGINE)

# Test tiers: `make lint` (every static check, well under two minutes on a built tree),
# `make unit` (the Rust tests and the Python tests that need only the engine binary,
# about a minute), `make test` (everything, what CI runs).
LINT_PY := pyclient tests bench
UNIT_PY := tests/test_utterance_rules.py tests/test_options.py tests/test_ordering.py \
	tests/test_torn_frames.py tests/test_layout_conformance.py tests/test_validators_agree.py \
	tests/test_cli_surface.py tests/test_speech_rule.py tests/test_attach.py tests/test_bad_input.py

lint: lint-deps
	cargo fmt --all --check
	cargo clippy --release --locked --all-targets $(TEST_FEATURES) -- -D warnings
	cargo clippy --release --locked -p v2m-engine -- -D warnings  # and without the feature
	.venv/bin/ruff check $(LINT_PY)
	.venv/bin/black --check -q $(LINT_PY)
	.venv/bin/mypy --strict pyclient/v2m pyclient/v2m_engine.py
	$(PY) tests/mutation_check.py --check

unit: build
	cargo test --release --locked --workspace $(TEST_FEATURES)
	$(PY) -m pytest -q $(UNIT_PY)

test: build lint docs
	cargo test --release --locked --workspace $(TEST_FEATURES)
	RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release --locked -p v2m-layout --test loom_seqlock
	scripts/test-python.sh
	# The ARM64 reader's path (membarrier fences) on this CPU too; make test-arm64 runs it on ARM64.
	V2M_READER_FENCES=always $(PY) -m pytest -q tests/test_torn_frames.py tests/test_stream.py tests/test_overrun.py tests/test_samples_first.py tests/test_ordering.py

# The documentation site in build/site (MkDocs): --strict fails on a broken link,
# anchor or API reference; tests/test_docs.py also renders it in a browser.
docs: deps
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet

# The aarch64 wheel installed into an ARM64 Python, the engine's tests and the reader's
# against it, all under qemu-user (needs root; about 10 minutes, more the first time).
test-arm64: demo-deps
	scripts/test-arm64.sh

# The release: the sdist and a manylinux_2_17 wheel for x86_64 and for aarch64, in dist/.
wheels: demo-deps
	scripts/build-wheels.sh

# The Python tests on a free-threaded CPython 3.13 (no GIL), built from Debian's
# source package when none is installed (6 minutes the first time here).
test-free-threaded: build
	scripts/test-free-threaded.sh

# The latency suite (about 10 minutes); bench/engine.py, bench/vad.py and
# bench/torture.py run on their own.
bench: build
	$(PY) bench/latency_suite.py

# The headline cases long enough for p99.9 (10,000 frames per reader at 10 ms; about
# 50 minutes): bench/results/long.{json,md} and its tail plots.
bench-long: build
	$(PY) bench/latency_suite.py --long

clean:
	cargo clean
	rm -rf .venv .venv-ft models build
