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

vsix: setup
	npm run package

e2e: vsix
	sh scripts/e2e-setup.sh
	node client-vscode/e2e/e2e.mjs dist/slipstream-0.1.0.vsix
