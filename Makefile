# The two commands: `make run REQUEST="..."` and `make test`. Both set up .venv first.
REQUEST ?=
ARGS ?=
# The real weights the real_model tests use (from the model cache; pulled when missing).
TEST_MODELS ?= qwen2.5-coder:0.5b qwen2.5-coder:1.5b tiny.en base

.PHONY: run test test-fast setup models eval bench lint

run:
	@scripts/setup.sh
	.venv/bin/python startup.py $(ARGS) "$(REQUEST)"

test:
	@scripts/setup.sh test
	.venv/bin/python startup.py models pull $(TEST_MODELS)
	.venv/bin/python -m pytest tests

test-fast:
	@scripts/setup.sh test
	.venv/bin/python -m pytest tests -m "not real_model and not slow"

setup:
	@scripts/setup.sh test

models:
	@scripts/setup.sh
	.venv/bin/python startup.py models pull $(TEST_MODELS)

eval:
	@scripts/setup.sh test
	.venv/bin/python scripts/eval.py $(ARGS)

lint:
	.venv/bin/ruff check .

bench:
	.venv/bin/python benchmarks/bench_runtime.py
	.venv/bin/python benchmarks/bench_graphs.py
	.venv/bin/python benchmarks/bench_speech.py
