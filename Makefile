# The two commands of the README: `make demo` (install everything, run the demo) and `make test`.
.PHONY: setup demo test lint bench

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/slipstream demo

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

test: lint
	.venv/bin/python -m pytest -q

bench: setup
	.venv/bin/python bench/latency.py
