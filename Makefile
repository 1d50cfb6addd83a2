# Two commands on a fresh machine with only python3 and make: `make demo` and `make test`.
PY     ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# make demo FRONT=nginx: the Linux topology (a real nginx in front of the stand-in Octopus on plain HTTP)
FRONT  ?= httpsys
DEMO   := demo/$(if $(filter nginx,$(FRONT)),nginx,sandbox)
AUDIT  := demo/$(if $(filter nginx,$(FRONT)),nginx-audit,audit)

.PHONY: install docs demo test check lint typecheck unit sslyze FORCE bench clean stop-demo screenshots crash crash-points

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

# The whole suite on pytest-xdist workers (`make unit XDIST=` runs it in one process). A notebook's nbval
# cells, and the tests of a module sharing a module-scoped fixture, stay on one worker (the scheduler in
# tests/conftest.py); every other test goes to whichever worker is free, longest first. Three workers on
# this 2-core machine: a test waits on its child processes (a portal, a kernel, nginx, ansible) and on
# deliberate timeouts, and the third worker fills those waits. Measured on one commit (4da7fc9): -n 3 9.0 min
# with the cores 93 % busy, -n 4 9.3 min at 97 % (a fourth worker only contends); -n 2 took 11.6 min before
# this session's cuts in CPU. --durations=30 prints the slowest every run (docs/explanation/performance.md).
XDIST ?= -n 3 --no-loadscope-reorder
# Bytecode is cached (in the ignored __pycache__ folders) even where the shell sets PYTHONDONTWRITEBYTECODE:
# otherwise each of the suite's thousands of Python processes (stand-in commands, kernels, runs) compiles every
# octorunbook module it imports again, and each worker rewrites every test module's asserts again.
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest
unit: install
	$(PYTEST) -p no:cacheprovider $(XDIST) --durations=30 tests notebooks --nbval-lax --nbval-current-env

# The edit loop (≤ 90 s): lint, types and the tests that start no server, no kernel and no long-running
# tool (tests/conftest.py marks the others `server`). `make test` is still the whole suite.
check: lint typecheck
	$(PYTEST) -q -p no:cacheprovider $(XDIST) -m "not server" tests

# sslyze (AGPLv3, an opt-in extra) pins cryptography<47: its scan tests run in a venv of their own, so the
# main suite keeps the cryptography the package is tested with.
# It is rebuilt only when what it installs changes (.deps: the package's dependencies, the sslyze extra and
# the two test tools that step needs, read from pyproject.toml and rewritten only when they differ), not on
# every edit of pyproject.toml: a warm venv is reused and the step costs the scan tests alone.
SSLYZE_VENV := .venv-sslyze
SSLYZE_DEPS := $(SSLYZE_VENV)/.deps
$(SSLYZE_DEPS): FORCE install
	@mkdir -p $(SSLYZE_VENV)
	@$(BIN)/python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
	  extra = p["optional-dependencies"]; \
	  tools = [r for r in extra["test"] if r.split(">")[0].split("=")[0] in ("pytest", "trustme")]; \
	  print("\n".join(p["dependencies"] + extra["sslyze"] + tools))' >$@.new
	@if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; fi
$(SSLYZE_VENV)/.installed-stamp: $(SSLYZE_DEPS)
	test -x $(SSLYZE_VENV)/bin/python || $(PY) -m venv $(SSLYZE_VENV)
	$(SSLYZE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SSLYZE_VENV)/bin/python -m pip install --quiet -e ".[sslyze]" -r $(SSLYZE_DEPS)
	touch $@
FORCE:

sslyze: $(SSLYZE_VENV)/.installed-stamp
	OCTORUNBOOK_REQUIRE_SSLYZE=1 $(SSLYZE_VENV)/bin/pytest -q -p no:cacheprovider tests/evidence/posture/test_sslyze.py

# The whole suite, with lint, types and the sslyze step run beside it: the suite leaves about a third of
# two cores idle while its tests wait on portals, kernels and browsers, and those steps fill it (about a
# minute less, docs/explanation/performance.md). The suite prints as it goes; the other steps' output is
# printed when the suite ends. Any step failing fails `make test`. Alone: make lint | typecheck | unit | sslyze.
test: install
	@side=$$(mktemp); \
	$(MAKE) --no-print-directory -j3 -Otarget lint typecheck sslyze >$$side 2>&1 & beside=$$!; \
	$(MAKE) --no-print-directory unit; suite=$$?; \
	wait $$beside; others=$$?; \
	echo "== lint, types and the sslyze step (run beside the suite): exit $$others"; cat $$side; rm -f $$side; \
	[ $$suite -eq 0 ] && [ $$others -eq 0 ]

# The crash campaign at every point (`make test` kills each procedure at a sample of its points), and the
# list of points rewritten from an uninterrupted run of each procedure (review the diff like code).
crash: install
	OCTORUNBOOK_CRASH_ALL=1 $(PYTEST) -q -p no:cacheprovider -m crash tests/runbooks/test_undo_crash.py

crash-points: install
	OCTORUNBOOK_CRASH_UPDATE=1 $(PYTEST) -q -p no:cacheprovider tests/runbooks/test_undo_crash.py -k uninterrupted

screenshots: install
	OCTORUNBOOK_UPDATE_SCREENSHOTS=1 $(PYTEST) tests/ui/test_ui.py -q

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
