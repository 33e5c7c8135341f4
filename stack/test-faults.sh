#!/usr/bin/env bash
# `make test-faults`: the fault suite (tests marked `faults`). It stops and restarts the stack's
# own Redis, Solr and PostgreSQL and kills job workers, so it runs alone, never beside other tests
# or a platform in use. Extra arguments go to pytest.
. "$(dirname "$0")/lib.sh"

bash "$ROOT/stack/install.sh"
cd "$ROOT"
bash "$ROOT/stack/up.sh"
say "fault suite: services killed and restarted under work"
rc=0
"$CKAN_VENV/bin/pytest" -p no:cacheprovider --ckan-ini="$CKAN_TEST_INI" -ra -s -m faults tests/integration/test_faults.py "$@" || rc=$?
bash "$ROOT/stack/up.sh" >/dev/null  # whatever a failed test left stopped is started again
exit $rc
