# Two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: demo test lint install browser recompute clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# Browser tests drive Debian's Chromium (no browser download works on our intranets);
# a CJK font keeps Chinese from rendering as boxes. Installed when missing and we are root.
browser:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi wenquanyi; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
		else \
			echo "Chromium or fonts-wqy-microhei missing: run 'sudo apt-get install -y chromium fonts-wqy-microhei'"; \
		fi; \
	fi

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/bandit -q -r accounts findings measures dashboards ledgerio drafts notices devdata rectify -c pyproject.toml
	$(VENV)/bin/lint-imports
	DEBUG=0 ALLOWED_HOSTS=rectify.example SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
		DATABASE_URL=postgres://rectify@db.invalid:5432/rectify REDIS_URL=redis://redis.invalid:6379/0 \
		$(PY) manage.py check --deploy --fail-level WARNING
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

test: install browser lint
	$(VENV)/bin/pytest

# The links that load_demo prints and the reminder emails carry point at this server.
demo: export SITE_URL ?= http://127.0.0.1:$(PORT)
demo: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo
	@echo "rectify: http://127.0.0.1:$(PORT)/  (Ctrl-C stops the web server and the Celery worker)"
	@trap 'kill 0' INT TERM EXIT; \
	$(VENV)/bin/celery -A rectify worker --beat --loglevel=info --concurrency=1 \
		--schedule=var/celerybeat-schedule & \
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

recompute: install
	$(PY) manage.py recompute

clean:
	rm -rf $(VENV) var
