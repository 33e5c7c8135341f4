#!/usr/bin/env bash
# `make test`: unit tests first (pure Python, no service), then the whole suite
# against the real services (started if needed). Extra arguments go to pytest.
. "$(dirname "$0")/lib.sh"

bash "$ROOT/stack/install.sh"
cd "$ROOT"
PYTEST=$CKAN_VENV/bin/pytest

say "unit tests (no services)"
"$PYTEST" -p no:ckan -p no:ckan_fixtures -p no:cacheprovider -q tests/unit "$@"

bash "$ROOT/stack/up.sh"
say "whole suite against the running services (unit + integration; the fault suite apart: make test-faults)"
# --durations: the slowest tests in the log, to keep the suite inside the CI budget
exec "$PYTEST" -p no:cacheprovider --ckan-ini="$CKAN_TEST_INI" -ra --durations=25 -m "not faults" tests "$@"
