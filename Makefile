# Two commands on a fresh machine with only python3 and make: `make demo` and `make test`.
PY     ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lint typecheck unit bench clean stop-demo screenshots

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/octorunbook demo --dir demo/sandbox --audit-dir demo/audit

stop-demo:
	$(BIN)/octorunbook sandbox stop demo/sandbox

lint: install
	$(BIN)/ruff check octorunbook tests benchmarks tools
	$(BIN)/ruff format --check octorunbook tests benchmarks tools

typecheck: install
	$(BIN)/mypy octorunbook

unit: install
	$(BIN)/pytest tests notebooks --nbval-lax --nbval-current-env

test: lint typecheck unit

screenshots: install
	OCTORUNBOOK_UPDATE_SCREENSHOTS=1 $(BIN)/pytest tests/test_browser.py -q

bench: install
	$(BIN)/python benchmarks/bench_runbooks.py
	$(BIN)/python benchmarks/bench_judge.py
	$(BIN)/python benchmarks/bench_cli_start.py
	$(BIN)/python benchmarks/bench_audit_list.py
	$(BIN)/python benchmarks/bench_unavailability.py
	$(BIN)/python benchmarks/bench_ha_rollout.py

clean:
	-$(BIN)/octorunbook sandbox stop demo/sandbox
	rm -rf demo .pytest_cache .mypy_cache .ruff_cache
