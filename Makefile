# Two commands on a fresh machine with only python3 and make: `make demo` and `make test`.
PY     ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# make demo FRONT=nginx: the Linux topology (a real nginx in front of the stand-in Octopus on plain HTTP)
FRONT  ?= httpsys
DEMO   := demo/$(if $(filter nginx,$(FRONT)),nginx,sandbox)
AUDIT  := demo/$(if $(filter nginx,$(FRONT)),nginx-audit,audit)

.PHONY: install docs demo test lint typecheck unit sslyze bench clean stop-demo screenshots crash crash-points

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/octorunbook demo --front $(FRONT) --dir $(DEMO) --audit-dir $(AUDIT)

# The documentation site: the generated reference pages first, then mkdocs with --strict into site/.
docs: install
	$(BIN)/python tools/make_docs.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

stop-demo:
	-test ! -f demo/sandbox/sandbox.json || $(BIN)/octorunbook sandbox stop demo/sandbox
	-test ! -f demo/nginx/sandbox.json || $(BIN)/octorunbook sandbox stop demo/nginx

lint: install
	$(BIN)/ruff check octorunbook tests benchmarks tools
	$(BIN)/ruff format --check octorunbook tests benchmarks tools

typecheck: install
	$(BIN)/mypy octorunbook

unit: install
	$(BIN)/pytest tests notebooks --nbval-lax --nbval-current-env

# sslyze (AGPLv3, an opt-in extra) pins cryptography<47: its scan tests run in a venv of their own, so the
# main suite keeps the cryptography the package is tested with.
SSLYZE_VENV := .venv-sslyze
$(SSLYZE_VENV)/.installed-stamp: pyproject.toml
	test -x $(SSLYZE_VENV)/bin/python || $(PY) -m venv $(SSLYZE_VENV)
	$(SSLYZE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SSLYZE_VENV)/bin/python -m pip install --quiet -e ".[test,sslyze]"
	touch $@

sslyze: $(SSLYZE_VENV)/.installed-stamp
	OCTORUNBOOK_REQUIRE_SSLYZE=1 $(SSLYZE_VENV)/bin/pytest -q -p no:cacheprovider tests/evidence/posture/test_sslyze.py

test: lint typecheck unit sslyze

# The crash campaign at every point (`make test` kills each procedure at a sample of its points), and the
# list of points rewritten from an uninterrupted run of each procedure (review the diff like code).
crash: install
	OCTORUNBOOK_CRASH_ALL=1 $(BIN)/pytest -q -p no:cacheprovider -m crash tests/runbooks/test_undo_crash.py

crash-points: install
	OCTORUNBOOK_CRASH_UPDATE=1 $(BIN)/pytest -q -p no:cacheprovider tests/runbooks/test_undo_crash.py -k uninterrupted

screenshots: install
	OCTORUNBOOK_UPDATE_SCREENSHOTS=1 $(BIN)/pytest tests/ui/test_ui.py -q

# Every aim with ✔/✖ (issue 28: the headless run quiet and with one busy core, the monitoring plugin).
bench: install
	$(BIN)/python benchmarks/bench_check.py
	$(BIN)/python benchmarks/bench_runbooks.py
	$(BIN)/python benchmarks/bench_judge.py
	$(BIN)/python benchmarks/bench_cli_start.py
	$(BIN)/python benchmarks/bench_run_start.py
	$(BIN)/python benchmarks/bench_audit_list.py
	$(BIN)/python benchmarks/bench_unavailability.py
	$(BIN)/python benchmarks/bench_ha_rollout.py

clean: stop-demo
	rm -rf demo site .pytest_cache .mypy_cache .ruff_cache $(SSLYZE_VENV)
