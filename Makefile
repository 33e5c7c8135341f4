# Local stack and tests of ckanext-sinp. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help install run up down restart status test test-unit test-faults lint format logs clean backup restore

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install:  ## install what is missing (Debian packages, virtualenvs, Solr jars)
	@bash stack/install.sh

run:  ## install, start every service with demo data in the foreground; Ctrl-C stops them
	@bash stack/run.sh

up:  ## the same in the background; returns when every service answers
	@bash stack/up.sh

down:  ## stop exactly what `make up` started
	@bash stack/down.sh

restart: down up  ## stop then start the stack

status:  ## which services run, with their memory
	@bash stack/status.sh

test:  ## unit tests, then the whole suite against the running services (started if needed)
	@bash stack/test.sh

test-faults:  ## the fault suite: kills and restarts Redis, Solr, PostgreSQL and workers under work (alone)
	@bash stack/test-faults.sh

test-unit:  ## unit tests only (no services)
	@bash stack/install.sh && var/venv/ckan/bin/pytest -p no:ckan -p no:ckan_fixtures -q tests/unit

lint:  ## ruff: lint and format check of the whole tree (settings in pyproject.toml)
	@bash stack/install.sh && var/venv/ckan/bin/ruff check . && var/venv/ckan/bin/ruff format --check .

format:  ## ruff: fix what can be fixed safely and format the whole tree
	@bash stack/install.sh && var/venv/ckan/bin/ruff check --fix . && var/venv/ckan/bin/ruff format .

backup:  ## write one archive (database, uploaded files, secrets) to backups/; prints its path
	@bash stack/backup.sh

restore:  ## bring the machine back to an archive: make restore BACKUP=backups/sinp-backup-....tar
	@bash stack/restore.sh "$(BACKUP)"

logs:  ## follow the services' logs
	@tail -F var/log/*.log

clean: down  ## stop the stack and delete var/ (virtualenvs, data, logs); keeps pip and Maven caches
	rm -rf var
