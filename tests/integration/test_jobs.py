"""A job enqueued through CKAN is run by a separate `ckan jobs worker` process."""

from __future__ import annotations

import os
import time

import ckan.plugins.toolkit as tk
import sinp_testjobs


def test_an_enqueued_job_is_executed_by_the_worker(jobs_worker, tmp_path):
    marker = tmp_path / "done.txt"
    job = tk.enqueue_job(sinp_testjobs.write_marker, [str(marker), "exécuté"], title="test sinp")
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.exists(), f"job {job.id} was not executed within 60 s"
    text = marker.read_text(encoding="utf-8")
    assert text.startswith("exécuté")
    # run by the worker (RQ forks a work horse per job), not by the test process
    assert not text.endswith(f"pid={os.getpid()}")
