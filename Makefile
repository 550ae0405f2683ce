# The two commands of the README:
#   make run   — set up everything and start the product (web + Celery worker + beat)
#   make test  — set up everything and run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install lint messages constraints clean

$(STAMP): pyproject.toml constraints.txt package.json package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	@command -v npm >/dev/null 2>&1 || { echo "npm (Node.js) is needed to install the chart library: apt-get install nodejs npm" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(PY) manage.py up

# The suite in two passes: the tests marked `serial` alone (they restart a server
# the others use, or measure the machine; none selected is fine), then all the
# others spread over the cores by pytest-xdist, each worker with its own test
# database, var dir and Redis database (config/settings_test.py). Both passes
# always run; the run fails if either does. Tests marked `replica` need a streaming
# replica: CI stage 2 runs them on their own (`pytest -m replica`, .ci/run). PYTEST_WORKERS=0: one process.
# `--dist load` hands tests out in collection order, where pytest-django puts the
# transactional tests (which flush the database, groups and seeded rows with it)
# after all the others; `worksteal` could run a stolen test after a flush.
PYTEST_WORKERS ?= auto

test: $(STAMP)
	@command -v chromium >/dev/null 2>&1 || .ci/install-services browser \
		|| echo "note: no Chromium; browser tests will be skipped (outside CI)"
	@status=0; \
	echo "$(PY) -m pytest -m 'serial and not replica' $(PYTEST_ARGS)"; \
	$(PY) -m pytest -m "serial and not replica" $(PYTEST_ARGS) || { code=$$?; [ $$code -eq 5 ] || status=$$code; }; \
	echo "$(PY) -m pytest -n $(PYTEST_WORKERS) --dist load -m 'not serial and not replica' $(PYTEST_ARGS)"; \
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist load -m "not serial and not replica" $(PYTEST_ARGS) || status=$$?; \
	exit $$status

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports
	DJANGO_DEBUG=1 $(PY) manage.py check
	DJANGO_DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

messages: $(STAMP)
	DJANGO_DEBUG=1 $(PY) manage.py makemessages -l en --no-obsolete --ignore '.venv/*' --ignore 'tests/*' \
		--ignore 'node_modules/*'
	DJANGO_DEBUG=1 $(PY) manage.py makemessages -d djangojs -l en --no-obsolete --ignore '.venv/*' \
		--ignore 'tests/*' --ignore 'var/*' --ignore 'artifacts/*' --ignore 'node_modules/*'
	DJANGO_DEBUG=1 $(PY) manage.py compilemessages -l en --ignore '.venv/*'

constraints: $(STAMP)
	$(PY) -m pip freeze --exclude-editable > constraints.txt

clean:
	rm -rf $(VENV) var/test-db.sqlite3*
