import time
import sqlalchemy as sa
import ckan.model as model
from tests.integration.test_visibility import people, _private_then_public, _draft_then_active, _history_doors  # noqa
import tests.integration.test_visibility as tv


def test_debug(people):
    pkg, res = _draft_then_active(people)
    with model.meta.engine.connect() as conn:
        for row in conn.execute(sa.text("SELECT activity_type, permission_labels, CAST(data AS jsonb)->'package'->>'private', CAST(data AS jsonb)->'package'->>'state', timestamp FROM activity WHERE object_id = :id ORDER BY timestamp"), {"id": pkg["id"]}):
            print("ROW", row)
    ids = [a["id"] for a in people.api["sysadmin"].ok("package_activity_list", id=pkg["id"])]
    orig = tv._page
    def timed(app, url, token):
        t = time.monotonic(); r = orig(app, url, token); print("TIME", round(time.monotonic() - t, 2), url); return r
    tv._page = timed
    t = time.monotonic()
    doors = _history_doors(people, pkg, res, "anonymous", ids)
    print("TOTAL", time.monotonic() - t, [d for d, x in doors.items() if tv._secret_in(x)])
    assert 0
