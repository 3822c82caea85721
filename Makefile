# The two commands: `make run REQUEST="..."` and `make test`. Both set up .venv first.
REQUEST ?=
ARGS ?=

.PHONY: run test setup bench lint

run:
	@scripts/setup.sh
	.venv/bin/python startup.py $(ARGS) "$(REQUEST)"

test:
	@scripts/setup.sh test
	.venv/bin/python -m pytest tests

setup:
	@scripts/setup.sh test

lint:
	.venv/bin/ruff check .

bench:
	.venv/bin/python benchmarks/bench_runtime.py
	.venv/bin/python benchmarks/bench_graphs.py
	.venv/bin/python benchmarks/bench_speech.py
