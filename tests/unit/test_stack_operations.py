"""Supervision and operations of the local stack (stack/lib.sh, status.sh, up.sh, run.sh, backup
manifest), on processes this test starts itself: never on the shared stack's services.

A service whose pid is a zombie (its parent never reaped it), gone, or reused by another program is
not running: `make up` starts it again and `make status` says so.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
import time

import pytest
import yaml

from tests.conftest import ROOT

LIB = ROOT / "stack" / "lib.sh"
SERVICES = [
    "redis",
    "solr",
    "ckan",
    "ckan-worker",
    "harvest-gather",
    "harvest-fetch",
    "scheduler",
    "pycsw",
    "mapserver",
]


def lib(var: pathlib.Path, script: str) -> subprocess.CompletedProcess:
    """Runs SCRIPT with stack/lib.sh sourced, its var/ in a temporary folder."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(var),
        "SINP_VAR": str(var),
        "REDIS_PORT": "1",
        "SOLR_PORT": "1",
        "CKAN_PORT": "1",
        "CSW_PORT": "1",
    }  # nothing answers there
    return subprocess.run(
        ["bash", "-c", f". {shlex.quote(str(LIB))}; {script}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write_pid(var: pathlib.Path, name: str, pid: int) -> None:
    (var / "run").mkdir(parents=True, exist_ok=True)
    (var / "run" / f"{name}.pid").write_text(f"{pid}\n")


def state(pid: int) -> str:
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


@pytest.fixture
def zombie():
    """A child process that has exited and that nobody has waited for yet."""
    proc = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    while state(proc.pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state(proc.pid) == "Z"
    yield proc.pid
    proc.wait()


def test_a_zombie_pid_is_not_a_running_service(tmp_path, zombie):
    write_pid(tmp_path, "redis", zombie)
    assert lib(tmp_path, "service_state redis").stdout.strip() == f"zombie {zombie}"
    result = lib(tmp_path, "pid_of redis >/dev/null && echo running || echo not-running")
    assert result.stdout.strip() == "not-running", result.stderr
    assert not (tmp_path / "run" / "redis.pid").exists()


def test_make_status_reports_a_zombie_as_stopped_and_fails(tmp_path, zombie):
    write_pid(tmp_path, "redis", zombie)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "SINP_VAR": str(tmp_path),
        "REDIS_PORT": "1",
        "SOLR_PORT": "1",
        "CKAN_PORT": "1",
        "CSW_PORT": "1",
    }
    result = subprocess.run(
        ["bash", str(ROOT / "stack" / "status.sh")], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    line = next(line for line in result.stdout.splitlines() if line.split()[0] == "redis")
    assert "stopped" in line and f"pid {zombie} is a zombie" in line
    assert result.returncode == 3


def test_a_live_process_and_a_reused_pid(tmp_path):
    result = lib(tmp_path, "start_bg fake sleep 300; sleep 0.2; service_state fake; pid_of fake")
    assert result.returncode == 0, result.stderr
    first, pid = result.stdout.split("\n")[:2]
    assert first == f"running {pid}"
    try:
        # the pid file now points to our process but with another start time: a reused pid
        (tmp_path / "run" / "fake.start").write_text("1\n")
        assert lib(tmp_path, "service_state fake").stdout.strip() == f"foreign {pid}"
        # an old pid file (no start time) naming a process that is not a session leader: not ours
        other = subprocess.Popen(["sleep", "300"])
        try:
            write_pid(tmp_path, "other", other.pid)
            assert lib(tmp_path, "service_state other").stdout.strip() == f"foreign {other.pid}"
        finally:
            other.kill()
            other.wait()
    finally:
        os.kill(int(pid), 9)
    time.sleep(0.2)
    (tmp_path / "run" / "fake.start").unlink()
    write_pid(tmp_path, "fake", int(pid))
    assert lib(tmp_path, "service_state fake").stdout.strip() in (f"dead {pid}", f"zombie {pid}")


def test_forget_dead_warns_and_lets_make_up_start_the_service_again(tmp_path, zombie):
    write_pid(tmp_path, "harvest-gather", zombie)
    result = lib(tmp_path, "forget_dead harvest-gather; service_state harvest-gather")
    assert "harvest-gather has died" in result.stderr and result.stdout.strip() == "stopped"


def test_stopping_a_service_stops_its_processes_in_other_sessions(tmp_path):
    # like `ckan jobs worker`, whose job process runs in its own session
    script = tmp_path / "worker.sh"
    script.write_text('#!/bin/bash\nsetsid sleep 300 &\necho $! > "$1"\nsleep 300\n')
    result = lib(tmp_path, f"start_bg worker bash {script} {tmp_path / 'job.pid'}; sleep 0.5; stop_service worker")
    assert result.returncode == 0, result.stderr
    job = int((tmp_path / "job.pid").read_text())
    deadline = time.monotonic() + 5
    while state(job) not in ("gone", "Z") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state(job) in ("gone", "Z"), "the job process outlived `make down`"


def test_a_running_service_that_does_not_answer_is_stopped_for_a_restart(tmp_path):
    result = lib(
        tmp_path,
        "start_bg fake sleep 300; sleep 0.2; healthy_or_stop fake 0 true && echo ok; "
        "healthy_or_stop fake 1 false || echo restart; service_state fake",
    )
    lines = result.stdout.splitlines()
    assert (lines[0], lines[-2:]) == ("ok", ["restart", "stopped"]), result.stderr
    assert "has not answered its health check" in result.stderr


def test_up_and_run_supervise_every_service_they_start():
    up = (ROOT / "stack" / "up.sh").read_text(encoding="utf-8")
    started = set(re.findall(r"start_bg ([a-z-]+)", up))
    assert started == set(SERVICES)
    forgotten = re.search(r"for svc in ([a-z -]+); do\n\s+forget_dead", up)
    assert forgotten and set(forgotten.group(1).split()) == started
    for name in ("redis", "solr", "ckan", "pycsw", "mapserver"):  # the services with a port answer a health check
        assert re.search(rf"healthy_or_stop {name} \d+ ", up), name
    run = (ROOT / "stack" / "run.sh").read_text(encoding="utf-8")
    assert set(re.search(r"for name in ([a-z -]+); do\n\s+if ! pid_of", run).group(1).split()) == started


# --- Redis persistence: the local stack and docker-compose agree ----------------------------------


def test_redis_keeps_its_queues_across_a_restart_locally_and_in_compose():
    up = (ROOT / "stack" / "up.sh").read_text(encoding="utf-8")
    local = shlex.split(re.search(r"start_bg redis (redis-server[^\n]*\\\n[^\n]*)", up).group(1).replace("\\\n", " "))
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]["redis"]
    for command in (local, compose["command"]):
        assert command[command.index("--appendonly") + 1] == "yes", command
        assert command[command.index("--appendfsync") + 1] == "everysec", command
    assert command_dir(local).startswith("$VAR/"), "the local append-only file lives under var/"
    assert any(v.endswith(":/data") for v in compose["volumes"]), "compose keeps /data in a volume"
    assert '--save ""' not in up and "--appendonly no" not in up


def command_dir(command: list[str]) -> str:
    return command[command.index("--dir") + 1]


# --- backup manifest and the scripts' refusals -----------------------------------------------------

MANIFEST = ROOT / "stack" / "backup_manifest.py"


def manifest(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(MANIFEST), *map(str, args)], capture_output=True, text=True, check=False)


def test_the_manifest_lists_every_part_and_catches_damage(tmp_path):
    (tmp_path / "database.dump").write_bytes(b"dump")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "ckan.ini").write_text("[app:main]\n")
    assert manifest("write", tmp_path, "target=main", "counts.packages=3", "versions.ckan=2.12.0").returncode == 0
    data = json.loads((tmp_path / "manifest.json").read_text())
    assert data["format"] == "sinp-backup/1" and data["counts"] == {"packages": 3}
    assert data["versions"]["ckan"] == "2.12.0" and data["created"]
    assert [(p["path"], p["bytes"]) for p in data["parts"]] == [("config/ckan.ini", 11), ("database.dump", 4)]
    assert manifest("verify", tmp_path, "main").returncode == 0
    assert manifest("get", tmp_path, "counts.packages").stdout.strip() == "3"

    wrong_target = manifest("verify", tmp_path, "test")
    assert wrong_target.returncode == 1 and "SINP_BACKUP_TARGET=main" in wrong_target.stderr
    (tmp_path / "database.dump").write_bytes(b"dumq")
    (tmp_path / "extra.txt").write_text("?")
    damaged = manifest("verify", tmp_path, "main")
    assert damaged.returncode == 1
    assert "database.dump: SHA-256 differs" in damaged.stderr and "extra.txt: in the archive but not" in damaged.stderr
    (tmp_path / "config" / "ckan.ini").unlink()
    assert "config/ckan.ini: listed in the manifest but missing" in manifest("verify", tmp_path, "main").stderr


@pytest.mark.parametrize("args,message", [([], "name the archive"), (["/nonexistent.tar"], "no such file")])
def test_restore_needs_an_existing_archive(tmp_path, args, message):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SINP_VAR": str(tmp_path)}
    result = subprocess.run(
        ["bash", str(ROOT / "stack" / "restore.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1 and message in result.stderr


def test_an_unknown_backup_target_is_refused(tmp_path):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SINP_VAR": str(tmp_path), "SINP_BACKUP_TARGET": "prod"}
    result = subprocess.run(
        ["bash", str(ROOT / "stack" / "backup.sh")], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1 and "use main (the catalogue) or test" in result.stderr


def test_backups_are_never_committed_and_have_make_targets():
    assert "/backups/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    for target in ("backup", "restore"):
        result = subprocess.run(
            ["make", "-n", "-C", str(ROOT), target, "BACKUP=x.tar"], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0 and f"stack/{target}.sh" in result.stdout, result.stderr
