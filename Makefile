# The two commands: `make demo` (engine + a reader) and `make test` (every test).
# Both install what they need and are safe to run again.

SHELL := /bin/bash
ENGINE := target/release/v2m-engine
PY := .venv/bin/python

.PHONY: demo test deps models build bench clean

deps:
	@scripts/install-deps.sh

models: deps

build: deps
	cargo build --release --locked

demo: build
	$(PY) pyclient/examples/vad_demo.py --engine $(ENGINE)

test: build
	cargo fmt --all --check
	cargo clippy --release --locked --all-targets -- -D warnings
	.venv/bin/black --check -q pyclient tests bench
	.venv/bin/mypy --strict pyclient/v2m
	cargo test --release --locked --workspace
	RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release --locked -p v2m-layout --test loom_seqlock
	$(PY) -m pytest tests -q

# The latency suite (about 10 minutes); bench/engine.py, bench/vad.py and
# bench/torture.py run on their own.
bench: build
	$(PY) bench/latency_suite.py

clean:
	cargo clean
	rm -rf .venv models build
