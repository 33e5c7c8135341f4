"""A partner's catalogue for tests and benchmarks: a stock pycsw 2.6.2 on its own SQLite repository.

``remote_pycsw(records, workdir, pycsw_venv)`` writes the given ISO 19139 documents into
``workdir``, creates a SQLite repository with pycsw's own tools (``pycsw-admin.py -c setup_db``, then
``-c load_records``), serves it with gunicorn (``pycsw.wsgi:application``, pycsw's default-sample
configuration, default mappings) on a free loopback port, yields the endpoint URL and stops the
server when the block ends. Nothing in it is ours: it is what a partner running pycsw out of the box
would expose.

Self-contained on purpose (standard library + requests): a benchmark script imports it as well as
the tests, so it takes paths as parameters instead of reading ``var/stack.env`` itself.

Loading speed: ``load_records`` parses, inserts and commits one record at a time (~2 ms of CPU per
small record), and SQLite syncs every commit, which nearly doubles that on a disk. The repository is
therefore built on tmpfs (/dev/shm, where a sync costs nothing) when there is room, then copied into
``workdir`` before the server starts; and from ``PARALLEL_MIN`` records on, the files are split into
batches (one per CPU, at most 4) loaded at the same time by as many ``load_records`` processes, each
into its own SQLite file, whose ``records`` rows are then copied as they are into the served
repository (same schema, made by the same ``setup_db``). Measured on 2 CPUs: 3 records served after
~1.4 s, 10 000 minimal records after ~12 s (~20 s with a single loader).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from xml.sax.saxutils import escape, quoteattr

import requests

# Below this many records one load_records process is quicker than starting several.
PARALLEL_MIN = 500
STARTUP_TIMEOUT = 90  # seconds for gunicorn to answer GetCapabilities


class RejectedRecordsError(RuntimeError):
    """pycsw-admin load_records did not load some of the documents (``files``: their names)."""

    def __init__(self, reasons: dict[str, str], log: pathlib.Path):
        self.files = sorted(reasons)
        lines = "\n".join(f"  {name}: {reasons[name]}" for name in self.files)
        super().__init__(f"stock pycsw did not load {len(self.files)} document(s) (see {log}):\n{lines}")


# --- minimal ISO 19139 documents -----------------------------------------------------------------


def minimal_iso(
    uuid: str,
    title: str,
    hierarchy: str = "dataset",
    parent: str | None = None,
    date_stamp: str = "2026-01-01T00:00:00Z",
    bbox: tuple = (5, 46, 7, 48),
    abstract: str | None = None,
) -> bytes:
    """A small but complete ISO 19139 gmd:MD_Metadata (UTF-8 bytes).

    ``hierarchy``: gmd:hierarchyLevel (dataset, series...); ``parent``: gmd:parentIdentifier;
    ``date_stamp``: gmd:dateStamp, a gco:Date when it has 10 characters (YYYY-MM-DD), else a
    gco:DateTime; ``bbox``: (west, south, east, north) in degrees. The abstract defaults to a sentence
    built from the title.
    """

    def text(value) -> str:
        return escape(str(value))

    stamp_type = "Date" if len(date_stamp) == 10 else "DateTime"
    parent_xml = (
        f"\n  <gmd:parentIdentifier><gco:CharacterString>{text(parent)}</gco:CharacterString></gmd:parentIdentifier>"
        if parent
        else ""
    )
    west, south, east, north = bbox
    code_list = "http://standards.iso.org/iso/19139/resources/gmxCodelists.xml"
    abstract = abstract if abstract is not None else f"Abstract of {title}."
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<gmd:MD_Metadata xmlns:gmd="http://www.isotc211.org/2005/gmd" xmlns:gco="http://www.isotc211.org/2005/gco">
  <gmd:fileIdentifier><gco:CharacterString>{text(uuid)}</gco:CharacterString></gmd:fileIdentifier>
  <gmd:language><gmd:LanguageCode codeList="http://www.loc.gov/standards/iso639-2/" codeListValue="fre">fre</gmd:LanguageCode></gmd:language>{parent_xml}
  <gmd:hierarchyLevel><gmd:MD_ScopeCode codeList={quoteattr(code_list + "#MD_ScopeCode")} codeListValue={quoteattr(hierarchy)}>{text(hierarchy)}</gmd:MD_ScopeCode></gmd:hierarchyLevel>
  <gmd:contact>
    <gmd:CI_ResponsibleParty>
      <gmd:organisationName><gco:CharacterString>Partner catalogue</gco:CharacterString></gmd:organisationName>
      <gmd:role><gmd:CI_RoleCode codeList={quoteattr(code_list + "#CI_RoleCode")} codeListValue="pointOfContact">pointOfContact</gmd:CI_RoleCode></gmd:role>
    </gmd:CI_ResponsibleParty>
  </gmd:contact>
  <gmd:dateStamp><gco:{stamp_type}>{text(date_stamp)}</gco:{stamp_type}></gmd:dateStamp>
  <gmd:identificationInfo>
    <gmd:MD_DataIdentification>
      <gmd:citation>
        <gmd:CI_Citation>
          <gmd:title><gco:CharacterString>{text(title)}</gco:CharacterString></gmd:title>
          <gmd:date>
            <gmd:CI_Date>
              <gmd:date><gco:Date>{text(date_stamp[:10])}</gco:Date></gmd:date>
              <gmd:dateType><gmd:CI_DateTypeCode codeList={quoteattr(code_list + "#CI_DateTypeCode")} codeListValue="creation">creation</gmd:CI_DateTypeCode></gmd:dateType>
            </gmd:CI_Date>
          </gmd:date>
        </gmd:CI_Citation>
      </gmd:citation>
      <gmd:abstract><gco:CharacterString>{text(abstract)}</gco:CharacterString></gmd:abstract>
      <gmd:language><gmd:LanguageCode codeList="http://www.loc.gov/standards/iso639-2/" codeListValue="fre">fre</gmd:LanguageCode></gmd:language>
      <gmd:extent>
        <gmd:EX_Extent>
          <gmd:geographicElement>
            <gmd:EX_GeographicBoundingBox>
              <gmd:westBoundLongitude><gco:Decimal>{west}</gco:Decimal></gmd:westBoundLongitude>
              <gmd:eastBoundLongitude><gco:Decimal>{east}</gco:Decimal></gmd:eastBoundLongitude>
              <gmd:southBoundLatitude><gco:Decimal>{south}</gco:Decimal></gmd:southBoundLatitude>
              <gmd:northBoundLatitude><gco:Decimal>{north}</gco:Decimal></gmd:northBoundLatitude>
            </gmd:EX_GeographicBoundingBox>
          </gmd:geographicElement>
        </gmd:EX_Extent>
      </gmd:extent>
    </gmd:MD_DataIdentification>
  </gmd:identificationInfo>
</gmd:MD_Metadata>
""".encode()


# --- stock pycsw ----------------------------------------------------------------------------------


def stock_config(
    path: pathlib.Path, home: pathlib.Path, url: str, db_file: pathlib.Path, maxrecords: int = 100
) -> None:
    """pycsw 2.6.2's default-sample.cfg with SQLite, our URL and ``maxrecords`` (default mappings)."""
    path.write_text(
        f"""[server]
home={home}
url={url}
mimetype=application/xml; charset=UTF-8
encoding=UTF-8
language=en-US
maxrecords={maxrecords}
profiles=apiso

[manager]
transactions=false
allowed_ips=127.0.0.1

[metadata:main]
identification_title=pycsw Geospatial Catalogue
identification_abstract=pycsw is an OGC CSW server implementation written in Python
identification_keywords=catalogue,discovery,metadata
identification_keywords_type=theme
identification_fees=None
identification_accessconstraints=None
provider_name=Organization Name
provider_url=https://pycsw.org/
contact_name=Lastname, Firstname
contact_position=Position Title
contact_address=Mailing Address
contact_city=City
contact_stateorprovince=Administrative Area
contact_postalcode=Zip or Postal Code
contact_country=Country
contact_phone=+xx-xxx-xxx-xxxx
contact_fax=+xx-xxx-xxx-xxxx
contact_email=Email Address
contact_url=Contact URL
contact_hours=Hours of Service
contact_instructions=During hours of service.  Off on weekends.
contact_role=pointOfContact

[repository]
database=sqlite:///{db_file}
table=records

[metadata:inspire]
enabled=true
languages_supported=eng,gre
default_language=eng
date=YYYY-MM-DD
gemet_keywords=Utility and governmental services
conformity_service=notEvaluated
contact_name=Organization Name
contact_email=Email Address
temp_extent=YYYY-MM-DD/YYYY-MM-DD
""",
        encoding="utf-8",
    )


def clean_env(**extra) -> dict:
    """Our environment without any PYCSW* variable (the stack's would point pycsw at our config)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYCSW")}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The three messages of pycsw.core.admin.load_records (2.6.2) that name a file it skips.
_SKIPPED = re.compile(
    r'XML document "(?P<a>[^"]+)" is not well-formed'
    r'|Could not parse "(?P<b>[^"]+)" as an XML record'
    r"|ERROR: (?P<c>.+?\.xml) not inserted: "
)


def _admin(
    pycsw_venv: pathlib.Path, args: list[str], cfg: pathlib.Path, cwd: pathlib.Path, log: pathlib.Path
) -> subprocess.Popen:
    """Starts ``pycsw-admin.py -c ... -f cfg``; its output (ERROR level and up) goes to ``log``."""
    command = [
        str(pycsw_venv / "bin" / "python"),
        str(pycsw_venv / "bin" / "pycsw-admin.py"),
        *args,
        "-f",
        str(cfg),
        "-l",
        "ERROR",
    ]
    # OWSLib's and Shapely's FutureWarnings would drown the loader's messages
    env = clean_env(PYTHONWARNINGS="ignore::FutureWarning")
    with open(log, "ab") as out:
        return subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)


def _run_admin(pycsw_venv, args, cfg, cwd, log) -> None:
    proc = _admin(pycsw_venv, args, cfg, cwd, log)
    if proc.wait():
        raise RuntimeError(f"pycsw-admin.py {' '.join(args)} failed ({proc.returncode}); see {log}")


def _setup_db(pycsw_venv, cfg, cwd, db_file, log) -> None:
    _run_admin(pycsw_venv, ["-c", "setup_db"], cfg, cwd, log)
    # setup_db prints its errors and exits 0 (e.g. "Database tables already exist")
    if not db_file.exists():
        raise RuntimeError(f"pycsw-admin.py -c setup_db created no {db_file}; see {log}")


def _load(
    pycsw_venv: pathlib.Path, xml_dir: pathlib.Path, names: list[str], build: pathlib.Path, url: str, maxrecords: int
) -> tuple[pathlib.Path, dict[str, str], str]:
    """Loads ``names`` (files of ``xml_dir``) with load_records into SQLite under ``build``.

    Returns (the repository file, {name of a file pycsw skipped: its message}, the loader's messages).
    """
    batches = max(1, min(os.cpu_count() or 1, 4)) if len(names) >= PARALLEL_MIN else 1
    split = xml_dir.parent / "batches"
    if batches == 1:
        dirs = [xml_dir]
    else:
        # consecutive runs of the sorted names, so that merging the batches in order keeps, of two
        # documents with the same identifier, the one a single load_records run keeps (the first by
        # name), and the rows in the same order; hard links (same file system as xml_dir) copy nothing
        dirs = [split / str(k) for k in range(batches)]
        ordered = sorted(names)
        size = -(-len(ordered) // batches)
        for k, d in enumerate(dirs):
            d.mkdir(parents=True)
            for name in ordered[k * size : (k + 1) * size]:
                os.link(xml_dir / name, d / name)
    try:
        jobs = []
        for k, d in enumerate(dirs):
            cfg, db_file, log = build / f"load-{k}.cfg", build / f"load-{k}.db", build / f"load-{k}.log"
            stock_config(cfg, build, url, db_file, maxrecords)
            _setup_db(pycsw_venv, cfg, build, db_file, log)
            jobs.append((_admin(pycsw_venv, ["-c", "load_records", "-p", str(d)], cfg, build, log), db_file, log))
        failed = [str(log) for proc, _, log in jobs if proc.wait()]
        if failed:
            raise RuntimeError(f"pycsw-admin.py -c load_records failed; see {', '.join(failed)}")
        messages = "".join(log.read_text(errors="replace") for _, _, log in jobs)
        if len(dirs) > 1:  # the batch directories go: the messages name the files in xml_dir
            for d in dirs:
                messages = messages.replace(f"{d}{os.sep}", f"{xml_dir}{os.sep}")
        skipped = {}
        for line in messages.splitlines():
            match = _SKIPPED.search(line)
            if match:
                skipped.setdefault(pathlib.Path(next(p for p in match.groups() if p)).name, line.strip())
        target = jobs[0][1]
        if len(jobs) > 1:
            merged = _merge(target, [(db_file, d) for (_, db_file, _), d in zip(jobs[1:], dirs[1:])])
            for name, ident in merged.items():
                line = (
                    f"ERROR: {xml_dir / name} not inserted: identifier {ident} already loaded from another "
                    f"batch (found when merging the batches)"
                )
                skipped[name] = line
                messages += line + "\n"
    finally:
        shutil.rmtree(split, ignore_errors=True)
    return target, skipped, messages


def _merge(target: pathlib.Path, batches: list[tuple[pathlib.Path, pathlib.Path]]) -> dict:
    """Copies the ``records`` rows that load_records made in other SQLite files into ``target``.

    ``batches``: (SQLite file, its directory of documents). The rows are copied as they are (same
    schema: the same setup_db made every file). A document whose identifier is already in ``target``
    is left out, as load_records itself does in one run (it keeps the first); returns those
    documents: {file name: identifier}.
    """
    duplicates = {}
    with contextlib.closing(sqlite3.connect(target)) as con:
        for db_file, directory in batches:
            con.execute("ATTACH DATABASE ? AS batch", (str(db_file),))
            for (ident,) in con.execute(
                "SELECT identifier FROM batch.records WHERE identifier IN (SELECT identifier FROM main.records)"
            ).fetchall():
                # which file? the one whose fileIdentifier it is (rare case, a plain search is enough)
                pattern = re.compile(
                    rb"fileIdentifier>\s*<[^>]*CharacterString>\s*"
                    + re.escape(escape(ident).encode("utf-8"))
                    + rb"\s*<"
                )
                name = next(
                    (f.name for f in sorted(directory.iterdir()) if pattern.search(f.read_bytes())),
                    f"(a document of {directory} with the identifier {ident})",
                )
                duplicates[name] = ident
            con.execute(
                "INSERT INTO main.records SELECT * FROM batch.records "
                "WHERE identifier NOT IN (SELECT identifier FROM main.records)"
            )
            con.commit()
            con.execute("DETACH DATABASE batch")
    return duplicates


def _scratch_dir(workdir: pathlib.Path, expected_bytes: int) -> pathlib.Path:
    """Where to build the repository: tmpfs when there is room (SQLite syncs cost nothing there)."""
    shm = pathlib.Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > expected_bytes + (512 << 20):
        return pathlib.Path(tempfile.mkdtemp(prefix="remote-pycsw-", dir=shm))
    return pathlib.Path(tempfile.mkdtemp(prefix="remote-pycsw-build-", dir=workdir))


@contextlib.contextmanager
def remote_pycsw(
    records: dict[str, bytes],
    workdir: pathlib.Path,
    pycsw_venv: pathlib.Path,
    maxrecords: int = 100,
    workers: int = 1,
    allow_rejected: bool = False,
) -> Iterator[str]:
    """Yields the CSW endpoint URL (``http://127.0.0.1:<port>/csw``) of a stock pycsw 2.6.2 serving
    ``records`` (file name -> ISO 19139 XML bytes) from SQLite.

    File names are plain names ending in ``.xml`` (load_records ignores any other file).
    Raises ``RejectedRecordsError`` (a RuntimeError) naming the documents load_records skipped
    (not well-formed, not a supported metadata format, identifier missing or already loaded...),
    unless ``allow_rejected`` (then only a warning). ``workdir`` (created if missing, one per call)
    keeps the documents, the configuration, the repository and the logs; the server is stopped at
    the end. ``workers``: gunicorn workers; ``maxrecords``: pycsw's [server] maxrecords.
    """
    workdir = pathlib.Path(workdir).resolve()
    pycsw_venv = pathlib.Path(pycsw_venv)
    for name in records:
        if "/" in name or name in (".xml", "..xml") or not name.endswith(".xml"):
            raise ValueError(f"{name!r}: a record's name must be a plain file name ending in .xml")
    xml_dir = workdir / "records"
    xml_dir.mkdir(parents=True, exist_ok=False)
    for name, content in records.items():
        (xml_dir / name).write_bytes(content)

    port = free_port()
    url = f"http://127.0.0.1:{port}/csw"  # pycsw.wsgi answers on any path; this one is the advertised URL
    db_file, cfg = workdir / "records.db", workdir / "pycsw.cfg"
    size = sum(len(c) for c in records.values())
    build = _scratch_dir(workdir, 3 * size + 200_000)
    try:
        if records:
            built, skipped, messages = _load(pycsw_venv, xml_dir, list(records), build, url, maxrecords)
        else:
            built, skipped, messages = build / "empty.db", {}, ""
            stock_config(build / "empty.cfg", build, url, built, maxrecords)
            _setup_db(pycsw_venv, build / "empty.cfg", build, built, build / "empty.log")
        shutil.copyfile(built, db_file)
        log = workdir / "load_records.log"
        log.write_text(messages, encoding="utf-8")
    finally:
        shutil.rmtree(build, ignore_errors=True)

    with contextlib.closing(sqlite3.connect(db_file)) as con:
        loaded = con.execute("SELECT count(*) FROM records").fetchone()[0]
    # load_records makes one row per ISO document; a difference not explained by the skipped files
    # (a message format we do not know) is reported too
    if loaded != len(records) - len(skipped):
        raise RuntimeError(
            f"stock pycsw holds {loaded} records for {len(records)} documents, of which "
            f"{len(skipped)} skipped ({', '.join(sorted(skipped)) or 'none named'}); see {log}"
        )
    if skipped:
        if not allow_rejected:
            raise RejectedRecordsError(skipped, log)
        warnings.warn(
            f"stock pycsw did not load {len(skipped)} document(s): {', '.join(sorted(skipped))}", stacklevel=3
        )

    stock_config(cfg, workdir, url, db_file, maxrecords)
    command = [
        str(pycsw_venv / "bin" / "gunicorn"),
        "pycsw.wsgi:application",
        "--no-control-socket",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--timeout",
        "120",
    ]
    with _gunicorn(command, clean_env(PYCSW_CONFIG=str(cfg)), workdir, workdir / "gunicorn.log", url):
        yield url


@contextlib.contextmanager
def _gunicorn(command: list[str], env: dict, cwd: pathlib.Path, log_path: pathlib.Path, url: str):
    """Runs gunicorn (in its own session) until the block ends; waits until GetCapabilities answers."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        params = {"service": "CSW", "version": "2.0.2", "request": "GetCapabilities"}
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"stock pycsw (gunicorn) exited ({proc.returncode}); see {log_path}")
            try:
                r = requests.get(url, params=params, timeout=5)
                if r.status_code == 200 and b"Capabilities" in r.content:
                    break
            except requests.RequestException:  # not listening yet
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"stock pycsw did not answer within {STARTUP_TIMEOUT} s; see {log_path}")
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # gunicorn's master stops its workers
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                # the whole session: master and workers, all started here
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
