"""`make backup` / `make restore` on the test configuration (SINP_BACKUP_TARGET=test): backup, wipe,
restore, and the catalogue is back — records, occurrences, CSW answers, API tokens, uploaded files.

Real stack/backup.sh and stack/restore.sh against the test database (ckan_test), the ckan_test Solr
core and var/storage-test; a real `ckan jobs worker` processes the deposit; the test pycsw serves the
CSW table. The restore drops and recreates ckan_test: run under the integration lock.
"""

from __future__ import annotations

import copy
import io
import pathlib
import shutil
import subprocess
import tarfile
import uuid
from urllib.parse import urlsplit

import ckan.model as model
import pytest
import requests
import sqlalchemy as sa
from ckan.lib import search
from ckan.plugins import toolkit as tk
from ckan.tests import factories
from lxml import etree

from tests.conftest import ROOT
from tests.integration.conftest import _wait_for_background_jobs
from tests.integration.test_csw_publication import GMD, _records, _wait
from tests.integration.test_occurrence_deposits import rows, upload, wait_report
from tests.integration.test_sinp_records import CA, JDD, Api

pytestmark = pytest.mark.stack

OCCURRENCE_TABLES = ["sinp_occurrence", "sinp_qc_error", "sinp_deposit"]


def _script(name: str, *args: str, backup_dir: pathlib.Path) -> list[str]:
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "SINP_BACKUP_TARGET": "test",
        "SINP_BACKUP_DIR": str(backup_dir),
    }
    result = subprocess.run(
        ["bash", str(ROOT / "stack" / name), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout.strip().splitlines()


def _release_connections() -> None:
    """The restore drops the database under this process: hand its connections back first."""
    model.Session.remove()
    model.meta.engine.dispose()


def _occurrence_rows() -> dict[str, list[tuple]]:
    with model.meta.engine.connect() as conn:
        return {
            table: [tuple(row) for row in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1, 2"))]
            for table in OCCURRENCE_TABLES
        }


def _record_by_id(csw: str, identifier: str) -> bytes:
    params = {
        "service": "CSW",
        "version": "2.0.2",
        "request": "GetRecordById",
        "id": identifier,
        "outputSchema": GMD,
        "elementSetName": "full",
    }
    return requests.get(csw, params=params, timeout=20).content


def _hits(csw: str) -> str:
    return _records(csw)[0].get("numberOfRecordsMatched")


def _state(app, api, records, resource, jdd, csw) -> dict:
    """What a producer, the public and a harvester see of the catalogue."""
    headers = {"Authorization": api.token}
    download = app.get(urlsplit(resource["url"]).path, headers=headers)
    rejected = app.get(f"/jdd/{jdd['name']}/depot/{resource['id']}/lignes-refusees.csv", headers=headers)
    return {
        "records": {r["id"]: api.ok("package_show", id=r["id"]) for r in records},
        "search": sorted(r["id"] for r in api.ok("package_search", q="*:*", include_private=True, rows=50)["results"]),
        "public_search": sorted(r["id"] for r in Api(app).ok("package_search", q="*:*", rows=50)["results"]),
        "occurrences": _occurrence_rows(),
        "report": api.ok("sinp_qc_report_show", resource_id=resource["id"], limit=100),
        "download": (download.status_code, download.data),
        "rejected": (rejected.status_code, rejected.data),
        "csw_hits": _hits(csw),
        "csw_records": {r["sinp_uuid"]: _record_by_id(csw, r["sinp_uuid"]) for r in records},
    }


@pytest.fixture
def catalogue(app, clean_db, clean_index, jobs_worker, test_csw):
    """A producer's CA (public), JDD public and private, a deposit with a rejected row, an API token."""
    user = factories.UserWithToken()
    org = factories.Organization(
        users=[{"name": user["name"], "capacity": "editor"}], title="LPO Bourgogne-Franche-Comté"
    )
    api = Api(app, user["token"])
    ca = api.ok(
        "package_create",
        **{**copy.deepcopy(CA), "name": f"ca-{uuid.uuid4().hex[:8]}", "owner_org": org["id"], "private": False},
    )
    public_jdd, private_jdd = (
        api.ok(
            "package_create",
            **{
                **copy.deepcopy(JDD),
                "name": f"jdd-{uuid.uuid4().hex[:8]}",
                "owner_org": org["id"],
                "cadre": ca["sinp_uuid"],
                "private": private,
                "title": title,
            },
        )
        for private, title in ((False, "Comptages hivernaux publiés"), (True, "Comptages en cours"))
    )
    content = rows(12) + "OBS-99;Pr;Myotis myotis;60418;2024-13-45;2024-13-45;MARTIN Léa;POINT(5 47.2);St;Pu;Te;LPO\n"
    resource = upload(app, user["token"], public_jdd["id"], content.encode("utf-8"))
    report = wait_report(api, resource["id"])
    assert (report["status"], report["rows_accepted"], report["rows_rejected"]) == ("done", 12, 1)
    resource = api.ok("resource_show", id=resource["id"])
    # the CSW sync of the public CA and JDD has run, and the deposit's: the JDD has public observations,
    # so the three service records of the data flows (WMS, WFS, OGC API Features) serve it
    _wait(lambda: _hits(test_csw) == "5")
    _wait_for_background_jobs()  # and every later one (the deposit's extent changes the JDD's record)
    return app, api, [ca, public_jdd, private_jdd], resource, public_jdd, content.encode("utf-8")


def test_backup_wipe_restore_gives_back_the_same_catalogue(catalogue, test_csw, tmp_path):
    app, api, records, resource, jdd, content = catalogue
    before = _state(app, api, records, resource, jdd, test_csw)
    assert before["download"] == (200, content)
    assert before["rejected"][0] == 200 and b"OBS-99" in before["rejected"][1]
    assert len(before["occurrences"]["sinp_occurrence"]) == 12 and len(before["search"]) == 3
    assert before["csw_hits"] == "5" and before["public_search"] == sorted(r["id"] for r in records[:2])

    # backup: one archive, its path on the last line, a manifest with sizes and SHA-256
    archive = pathlib.Path(_script("backup.sh", backup_dir=tmp_path)[-1])
    assert archive.parent == tmp_path and archive.suffix == ".tar" and archive.stat().st_mode & 0o077 == 0
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        storage = tar.extractfile("./storage.tar.gz").read()
    assert {"./manifest.json", "./database.dump", "./storage.tar.gz", "./config/test.ini"} <= names
    with tarfile.open(fileobj=io.BytesIO(storage)) as files:
        stored = files.getnames()
    assert any(name.endswith(f"{resource['id'][6:]}") for name in stored), "uploaded file missing"
    assert any("/sinp_qc/" in name and name.endswith("rejets.csv") for name in stored), "rejected rows missing"
    assert not any(name.startswith("./webassets") for name in stored), "a cache is in the archive"

    # wipe: records purged, occurrence tables emptied, API tokens revoked, files deleted, Solr cleared
    for record in reversed(records):
        tk.get_action("dataset_purge")({"ignore_auth": True}, {"id": record["id"]})
    _wait_for_background_jobs()  # the CSW withdrawals the purge queued do not run during the restore
    with model.meta.engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {', '.join(OCCURRENCE_TABLES)}, sinp_csw_record"))
        conn.execute(sa.text("DELETE FROM api_token"))
    storage_path = pathlib.Path(tk.config["ckan.storage_path"])
    for folder in ("resources", "sinp_qc"):
        shutil.rmtree(storage_path / folder, ignore_errors=True)
    search.clear_all()
    assert api.get("package_show", id=records[2]["id"])[0] in (403, 404)
    assert _occurrence_rows()["sinp_occurrence"] == [] and _hits(test_csw) == "0"

    # restore, then everything is as before
    _release_connections()
    lines = _script("restore.sh", str(archive), backup_dir=tmp_path)
    _release_connections()
    assert "restored" in lines[-1]
    after = _state(app, api, records, resource, jdd, test_csw)
    assert after["records"] == before["records"]  # the private JDD too: the API token is valid again
    assert after["search"] == before["search"] and after["public_search"] == before["public_search"]
    assert after["occurrences"] == before["occurrences"]
    assert after["report"] == before["report"]
    assert after["download"] == (200, content) and after["rejected"] == before["rejected"]
    assert after["csw_hits"] == before["csw_hits"] and after["csw_records"] == before["csw_records"]
    assert (
        etree.fromstring(after["csw_records"][records[1]["sinp_uuid"]]).xpath("count(//*[local-name()='MD_Metadata'])")
        == 1
    )


def test_restore_refuses_a_damaged_archive_and_changes_nothing(tmp_path):
    archive = tmp_path / "damaged.tar"
    with tarfile.open(archive, "w") as tar:
        (tmp_path / "manifest.json").write_text(
            '{"format": "sinp-backup/1", "target": "test", "parts": '
            '[{"path": "database.dump", "bytes": 3, "sha256": "0"}]}'
        )
        (tmp_path / "database.dump").write_bytes(b"abc")
        tar.add(tmp_path / "manifest.json", arcname="./manifest.json")
        tar.add(tmp_path / "database.dump", arcname="./database.dump")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/root", "SINP_BACKUP_TARGET": "test"}
    result = subprocess.run(
        ["bash", str(ROOT / "stack" / "restore.sh"), str(archive)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "database.dump: SHA-256 differs" in result.stderr and "nothing was changed" in result.stderr
