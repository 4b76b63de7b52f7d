# The two commands of the README: `make demo` (install everything, run the demo) and `make test`.
.PHONY: setup demo test lint bench vsix e2e

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/slipstream demo

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	npm run --silent typecheck

# Client unit tests (node's test runner), then the Python suite, which includes the real-editor e2e test.
test: lint
	npm test --silent
	.venv/bin/python -m pytest -q

bench: setup
	.venv/bin/python bench/latency.py
	.venv/bin/python bench/fim_eval.py

# dist/slipstream-0.1.0.vsix (universal: llama-cpp-python builds from source on first start) and
# dist/slipstream-linux-x64-0.1.0.vsix (the portable llama-cpp-python wheel inside: no compiler needed).
vsix: setup
	bash scripts/package-vsix.sh all

# The real-editor test: the linux-x64 .vsix's first start in a fresh profile with no compiler on PATH.
e2e: setup
	sh scripts/e2e-setup.sh
	bash scripts/package-vsix.sh linux-x64
	nice node client-vscode/e2e/e2e.mjs dist/slipstream-linux-x64-0.1.0.vsix
