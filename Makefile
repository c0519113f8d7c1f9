# Command 1: `make run`  — install everything and start the embedded platform (SQLite, no broker server).
# Command 2: `make test` — install everything and run the whole suite against PostgreSQL and Redis.
PYTHON ?= python3.11
# `PORT=8080 make run` serves on another port.
PORT ?= 8000
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint services clean

$(STAMP): requirements.txt requirements-dev.txt
	bash scripts/ensure_system_libs.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -c "import weasyprint" || echo "WARNING: WeasyPrint cannot load Pango: the PDF case report will fail (see scripts/ensure_system_libs.sh)" >&2
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	PORT=$(PORT) DJANGO_SETTINGS_MODULE=scoliosis_portal.settings.dev bash scripts/run_embedded.sh

services:
	bash scripts/ensure_services.sh
	bash scripts/ensure_chromium.sh
	bash scripts/ensure_nginx.sh

test: $(STAMP) services
	DJANGO_SETTINGS_MODULE=scoliosis_portal.settings.test $(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) db.sqlite3 var media staticfiles
