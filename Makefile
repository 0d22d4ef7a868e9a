# The two quick-start commands, and a few shortcuts. The real work is in scripts/.
.PHONY: run test lint bench
run:  ## Run the whole platform on embedded defaults (http://127.0.0.1:8000)
	scripts/run
test: ## Lint, type-check, then every test on embedded defaults and on PostgreSQL + Redis
	scripts/test
lint:
	scripts/bootstrap --dev && .venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy .
bench:
	scripts/bootstrap --dev && .venv/bin/python bench/crypto.py
