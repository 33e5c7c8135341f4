"""CSW at scale: our pycsw endpoint against stock pycsw 2.6.2, and a memory soak of ours.

One run, everything it starts is removed at the end (even on failure):

1. Generates N realistic ISO 19139 records with the extension's generator
   (``ckanext.sinp.domain.iso``): 10 % CA (series), 90 % JDD (datasets, bbox over
   Bourgogne-Franche-Comté, French titles and abstracts, actors, downloads). Two processes render
   the documents and write
   (a) the rows into OUR table (``csw.repository.ensure_table`` / ``grant_reader``, rows from
       ``repository.csw_row``, batch INSERTs of 250 rows) in a dedicated database ``sinp_bench``
       (PostGIS, a writer role owning it, a read-only role for pycsw), and
   (b) the same documents as files, loaded into STOCK pycsw 2.6.2 on its own SQLite repository
       with ``pycsw-admin.py -c setup_db`` / ``-c load_records -r`` (stock config generated in a
       temporary directory: default mappings, SQLite, maxrecords=100). The stock loader runs at
       the same time, on each chunk of 1000 files as soon as it is written, into a SQLite file on
       /dev/shm (it commits every record; tmpfs spares the fsyncs), copied to disk before serving.
2. Serves both with gunicorn on free loopback ports (2 workers, --max-requests 200, jitter 20, as
   stack/up.sh): ours = pycsw_config/wsgi.py, stock = ``pycsw.wsgi:application`` (PYCSW_CONFIG).
3. Measures each, one after the other, after a warm-up: GetRecords as GeoNetwork sends it (POST,
   summary, gmd, 20 per page, random startPosition), GetRecordById full (GET, random ids), and a
   GeoNetwork-shaped harvest (every page of 20 by POST, collecting fileIdentifier + dateStamp,
   then GetRecordById for a sample of records), checking that every identifier is seen once; and
   GetRecords with an AnyText wildcard filter (``%chiropt%``, ``odon%``…), counts of both compared.
4. Memory soak of ours: 20 client threads for 60 s paging and fetching like GeoNetwork, the RSS
   of the gunicorn process group (master + workers) sampled every 5 s.
5. Writes the sections "csw" and "csw-soak" of BENCHMARKS.md.

Run as root (it creates the database through ``su postgres -c psql``), from the repository root:

    var/venv/ckan/bin/python bench/bench_csw.py [--records 100000] [--harvest-fetch 1000]

At 100 000 records on 2 cores: ~12 min of generation + loading, ~40 min in all (each full
harvest listing is 5000 pages). Disk: ~5 GB in the temporary directory and the scratch database,
~2.6 GB on /dev/shm while loading. Try ``--records 2000`` first (~3 min).
It never touches the project's databases (ckan, ckan_test), roles or ports.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import functools
import multiprocessing
import os
import pathlib
import random
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import requests
from _ckan import ROOT, machine, percentiles, write_section
from lxml import etree

sys.path.insert(0, str(ROOT / "tests" / "integration" / "support"))
from remote_csw import stock_config  # noqa: E402  (the stock pycsw configuration, shared with the tests)

PYCSW_VENV = ROOT / "var" / "venv" / "pycsw"
PYCSW_CONFIG_DIR = ROOT / "pycsw_config"
DB_NAME = "sinp_bench"
WRITER = "sinp_bench_writer"
READER = "sinp_bench_reader"
GMD_URI = "http://www.isotc211.org/2005/gmd"
NS = {"csw": "http://www.opengis.net/cat/csw/2.0.2", "gmd": GMD_URI, "gco": "http://www.isotc211.org/2005/gco"}
PAGE = 20
WORKERS = 2
GUNICORN_OPTS = [
    "--no-control-socket",
    "--workers",
    "2",
    "--max-requests",
    "200",
    "--max-requests-jitter",
    "20",
    "--timeout",
    "120",
]

# --- realistic SINP records ---------------------------------------------------------------------

ORGS = [
    "Conservatoire d'espaces naturels de Bourgogne",
    "Conservatoire d'espaces naturels de Franche-Comté",
    "Société d'histoire naturelle d'Autun",
    "LPO Bourgogne-Franche-Comté",
    "Office français de la biodiversité",
    "Parc naturel régional du Morvan",
    "Parc naturel régional du Haut-Jura",
    "Parc naturel régional des Ballons des Vosges",
    "Parc naturel régional du Doubs Horloger",
    "Conservatoire botanique national de Franche-Comté – Observatoire régional des invertébrés",
    "Conservatoire botanique national du Bassin parisien",
    "DREAL Bourgogne-Franche-Comté",
    "Région Bourgogne-Franche-Comté",
    "Office national des forêts",
    "Muséum national d'histoire naturelle",
    "Opie Franche-Comté",
    "Fédération des chasseurs du Doubs",
    "EPTB Saône et Doubs",
    "Bourgogne-Franche-Comté Nature",
    "Université de Bourgogne – UMR Biogéosciences",
    "Commission de protection des eaux de Franche-Comté",
    "Réserve naturelle nationale du lac de Remoray",
    "Groupe naturaliste de Franche-Comté",
    "Département de la Côte-d'Or",
    "Département du Jura",
]
PEOPLE = [
    "MARTIN Claire",
    "BERNARD Julien",
    "PETIT Camille",
    "DUBOIS Antoine",
    "MOREAU Léa",
    "LAURENT Hugo",
    "GIRARD Inès",
    "ROUX Mathieu",
    "FOURNIER Chloé",
    "MOREL Théo",
    "GUERIN Manon",
    "MULLER Lucas",
    "BOYER Émilie",
    "FAURE Nicolas",
    "ANDRÉ Zoé",
    "MERCIER Pierre",
    "BLANC Sarah",
    "GARNIER Louis",
]
GROUPS = [
    "chiroptères",
    "odonates",
    "amphibiens",
    "reptiles",
    "oiseaux nicheurs",
    "oiseaux hivernants",
    "rhopalocères",
    "orthoptères",
    "coléoptères saproxyliques",
    "mollusques continentaux",
    "écrevisses à pattes blanches",
    "poissons",
    "flore vasculaire",
    "bryophytes",
    "lichens",
    "champignons",
    "habitats naturels",
    "mammifères terrestres",
    "araignées",
    "hétérocères",
]
# (of the place, in the place, lon, lat) inside Bourgogne-Franche-Comté
PLACES = [
    ("du Morvan", "dans le Morvan", 4.05, 47.20),
    ("de la vallée du Doubs", "dans la vallée du Doubs", 6.35, 47.25),
    ("du Haut-Jura", "dans le Haut-Jura", 5.95, 46.45),
    ("de la Bresse", "en Bresse", 5.25, 46.65),
    ("de la Côte-d'Or", "en Côte-d'Or", 4.80, 47.35),
    ("du plateau de Langres", "sur le plateau de Langres", 5.00, 47.75),
    ("du Val de Saône", "dans le Val de Saône", 5.10, 47.05),
    ("de la Puisaye", "en Puisaye", 3.20, 47.60),
    ("du Nivernais", "dans le Nivernais", 3.55, 47.05),
    ("de l'Auxois", "dans l'Auxois", 4.35, 47.45),
    ("du Châtillonnais", "dans le Châtillonnais", 4.60, 47.85),
    ("du pays de Montbéliard", "dans le pays de Montbéliard", 6.80, 47.50),
    ("du Territoire de Belfort", "dans le Territoire de Belfort", 6.88, 47.65),
    ("de l'Yonne", "dans l'Yonne", 3.55, 47.80),
    ("de la Haute-Saône", "en Haute-Saône", 6.15, 47.65),
    ("du Clunisois", "dans le Clunisois", 4.60, 46.45),
    ("du Brionnais", "dans le Brionnais", 4.20, 46.30),
    ("des Vosges saônoises", "dans les Vosges saônoises", 6.55, 47.85),
    ("du Revermont", "dans le Revermont", 5.40, 46.60),
    ("de la Petite Montagne", "dans la Petite Montagne", 5.50, 46.40),
    ("du Sénonais", "dans le Sénonais", 3.30, 48.20),
]
CA_PREFIX = [
    "Inventaire des",
    "Suivi des",
    "Atlas des",
    "Programme de suivi des",
    "Étude des",
    "Plan régional d'actions en faveur des",
    "Observatoire des",
]
JDD_PREFIX = [
    "Relevés",
    "Comptages",
    "Observations opportunistes",
    "Prospections ciblées",
    "Points d'écoute",
    "Captures",
    "Transects",
    "Inventaire complémentaire",
]
HABITATS = [
    "pelouses sèches",
    "tourbières",
    "forêts alluviales",
    "mares forestières",
    "prairies de fauche",
    "cavités souterraines",
    "vergers haute-tige",
    "gravières",
    "ripisylves",
    "hêtraies-sapinières",
    "marais",
    "corniches calcaires",
]
METHODS = [
    "observation directe",
    "écoute nocturne",
    "piégeage photographique",
    "détection acoustique",
    "pêche électrique",
    "capture-marquage-recapture",
    "relevés phytosociologiques",
    "recherche de traces",
]
HALF_W, HALF_H = 0.35, 0.25  # max half size of a JDD box (degrees)


def de(words: str) -> str:
    """French 'de' with elision: d'odonates, de chiroptères."""
    return f"d'{words}" if words[0] in "aeéèêiouyh" else f"de {words}"


def _uuid(rnd: random.Random) -> str:
    return str(uuid.UUID(int=rnd.getrandbits(128), version=4)).upper()


META_CADRES = 20  # the first CAs are méta-cadres, parents of a fifth of the others


def ca_uuid(j: int) -> str:
    return _uuid(random.Random(f"ca-uuid-{j}"))


@functools.cache
def ca_record(j: int) -> dict:
    """The j-th CA (deterministic, so that every process rebuilds the same one)."""
    rnd = random.Random(f"ca-{j}")
    group, (place, inside, _, _) = rnd.choice(GROUPS), rnd.choice(PLACES)
    start = rnd.randint(2005, 2024)
    end = start + rnd.randint(2, 8)
    orgs = rnd.sample(ORGS, rnd.randint(2, 4))
    record = {
        "type": "ca",
        "name": f"ca-{j}",
        "sinp_uuid": ca_uuid(j),
        "title": f"{rnd.choice(CA_PREFIX)} {group} {place} {start}-{end}",
        "notes": (
            f"Cadre d'acquisition régional consacré aux {group} {place}. "
            f"Il coordonne les prospections de terrain menées par {orgs[0]} et ses partenaires "
            f"entre {start} et {end}, en particulier dans les {rnd.choice(HABITATS)} et les "
            f"{rnd.choice(HABITATS)}, afin d'améliorer la connaissance de la répartition des espèces "
            f"et d'orienter les mesures de gestion des sites."
        ),
        "tags": [
            {"name": group},
            {"name": rnd.choice(HABITATS)},
            {"name": re.sub(r"^(du |de la |de l'|des )", "", place)},
        ],
        "objectifs": sorted(rnd.sample([str(k) for k in range(1, 12)], rnd.randint(1, 3)), key=int),
        "volets_sinp": [rnd.choice(["1", "1", "2", "3"])],
        "est_meta_cadre": "true" if j < META_CADRES else "false",
        "niveau_territorial": rnd.choice(["4", "5", "6"]),
        "territoires": ["METROP"],
        "precision_geographique": f"Bourgogne-Franche-Comté : prospections {inside}",
        "date_lancement": f"{start}-{rnd.randint(1, 12):02d}-01",
        "acteurs": [
            {
                "organisme": orgs[0],
                "nom_prenom": rnd.choice(PEOPLE),
                "mail": f"contact{j}@structure.invalid",
                "role": "1",
            }
        ]
        + [{"organisme": o, "role": r} for o, r in zip(orgs[1:], ("2", "3", "4"))],
        "date_creation_mtd": f"{start - 1}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}",
        "date_maj_mtd": f"{min(end, 2025)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}",
    }
    if rnd.random() < 0.7:
        record["date_cloture"] = f"{end}-12-31"
    if j >= META_CADRES and rnd.random() < 0.2:
        record["meta_cadre_parent"] = ca_uuid(rnd.randrange(META_CADRES))
    return record


def jdd_record(i: int, ca: dict) -> tuple[dict, list]:
    rnd = random.Random(f"jdd-{i}")
    group, (place, inside, lon, lat) = rnd.choice(GROUPS), rnd.choice(PLACES)
    year = rnd.randint(2005, 2025)
    w = min(max(lon + rnd.uniform(-0.4, 0.4), 2.85), 7.0)
    s = min(max(lat + rnd.uniform(-0.3, 0.3), 46.16), 48.2)
    e, n = min(w + rnd.uniform(0.02, 2 * HALF_W), 7.15), min(s + rnd.uniform(0.02, 2 * HALF_H), 48.40)
    orgs = rnd.sample(ORGS, 3)
    habitat, method = rnd.choice(HABITATS), rnd.choice(METHODS)
    name = f"jdd-{i}"
    record = {
        "type": "jdd",
        "name": name,
        "sinp_uuid": _uuid(rnd),
        "cadre": ca["sinp_uuid"],
        "title": f"{rnd.choice(JDD_PREFIX)} {de(group)} {place} ({year})",
        "libelle_court": f"{group[:6].upper()}_{year}_{i}",
        "notes": (
            f"Données d'occurrence {de(group)} recueillies en {year} {inside} par {method}, "
            f"principalement dans les {habitat}. Les observations sont géolocalisées au point ou à la "
            f"maille et validées par les référents du groupe taxonomique. "
            f"Jeu de données versé à la plateforme régionale du SINP par {orgs[0]}."
        ),
        "tag_string": f"{group}, {habitat}, {year}",
        "type_donnees": rnd.choice(["1", "1", "2", "3"]),
        "objectif_jdd": rnd.choice(["1.1", "1.2", "1.3", "3.6", "5.2", "6.1", "7.1"]),
        "domaine_terrestre": "true",
        "domaine_marin": "false",
        "territoires": ["METROP"],
        "borne_ouest": f"{w:.5f}",
        "borne_est": f"{e:.5f}",
        "borne_sud": f"{s:.5f}",
        "borne_nord": f"{n:.5f}",
        "methodes_recueil": sorted(rnd.sample([str(k) for k in range(1, 13)], rnd.randint(1, 2)), key=int),
        "protocoles": [{"libelle": f"Protocole {method} – {group}", "type": rnd.choice(["1", "2", "3"])}],
        "contacts_jdd": [
            {"organisme": orgs[0], "nom_prenom": rnd.choice(PEOPLE), "mail": f"jdd{i}@structure.invalid", "role": "1"},
            {"organisme": orgs[0], "role": "6"},
            {"organisme": orgs[1], "role": "5"},
        ],
        "contact_plateforme": [
            {"organisme": "Plateforme SINP Bourgogne-Franche-Comté", "mail": "sinp@plateforme.invalid", "role": "1"}
        ],
        "contacts_base_production": [{"organisme": orgs[2], "mail": f"base{i % 97}@structure.invalid"}],
        "date_creation": f"{year}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}",
    }
    if rnd.random() < 0.6:
        record["date_revision"] = f"{min(year + rnd.randint(0, 3), 2025)}-{rnd.randint(1, 12):02d}-01"
    resources = []
    for k in range(rnd.choice([0, 1, 1, 2])):
        fmt = ["CSV", "GeoJSON"][k]
        resources.append(
            {
                "name": f"Export des observations ({fmt})",
                "format": fmt,
                "url": f"https://sinp.example.fr/dataset/{name}/resource/{k}/download/obs.{fmt.lower()}",
                "description": "Une ligne par observation",
            }
        )
    return record, resources


def render(i: int, n_ca: int):
    """(kind, record, IsoContext) of record i: every tenth is a CA."""
    from ckanext.sinp.domain import iso

    rnd = random.Random(f"ctx-{i}")
    stamp = dt.datetime(2019, 1, 1) + dt.timedelta(seconds=rnd.randrange(7 * 365 * 86400))
    base = dict(
        site_url="https://sinp.example.fr",
        csw_url="https://sinp.example.fr/csw",
        date_stamp=stamp,
        platform_contact={
            "name": "Plateforme régionale SINP Bourgogne-Franche-Comté",
            "email": "sinp@plateforme.invalid",
        },
    )
    if i % 10 == 0:
        return "ca", ca_record(i // 10), iso.IsoContext(**base)
    ca = ca_record(random.Random(f"cadre-{i}").randrange(n_ca))
    record, resources = jdd_record(i, ca)
    return "jdd", record, iso.IsoContext(ca=ca, resources=resources, **base)


_ENGINE = None


def generate_chunk(task) -> dict:
    """Worker process: render records [start, end), write files and insert rows (batches)."""
    global _ENGINE
    from sqlalchemy import create_engine

    from ckanext.sinp.csw import repository
    from ckanext.sinp.domain import iso

    start, end, n_ca, xml_dir, db_url = task
    if _ENGINE is None:
        _ENGINE = create_engine(db_url, pool_size=1)
    table = repository.get_table()
    out_dir = pathlib.Path(xml_dir) / f"{start // 1000:04d}"
    out_dir.mkdir(parents=True, exist_ok=True)
    ids, rows, render_s, insert_s = [], [], 0.0, 0.0

    def flush():
        nonlocal insert_s, rows
        if rows:
            t0 = time.perf_counter()
            with _ENGINE.begin() as conn:
                conn.execute(table.insert().values(rows))
            insert_s += time.perf_counter() - t0
            rows = []

    for i in range(start, end):
        t0 = time.perf_counter()
        kind, record, ctx = render(i, n_ca)
        xml = iso.to_iso19139(kind, record, ctx)
        row = repository.csw_row(kind, record, ctx, xml)
        render_s += time.perf_counter() - t0
        (out_dir / f"{row['identifier']}.xml").write_bytes(xml)
        ids.append(row["identifier"])
        rows.append(row)
        if len(rows) >= 250:
            flush()
    flush()
    return {"ids": ids, "render_s": render_s, "insert_s": insert_s, "dir": str(out_dir)}


# --- infrastructure: database, stock pycsw, servers ----------------------------------------------


def psql(sql: str, db: str = "postgres") -> str:
    done = subprocess.run(
        ["su", "postgres", "-c", f"psql -X -q -At -v ON_ERROR_STOP=1 -d {db}"],
        input=sql,
        text=True,
        capture_output=True,
        cwd="/",
    )
    if done.returncode:
        raise RuntimeError(f"psql failed: {done.stderr.strip()}")
    return done.stdout


def drop_database():
    psql(
        f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE);\n"
        f"DROP ROLE IF EXISTS {READER};\nDROP ROLE IF EXISTS {WRITER};\n"
    )


def create_database() -> tuple[str, str]:
    """(writer URL, reader URL) of a new database sinp_bench with PostGIS."""
    drop_database()  # a leftover of an interrupted run
    wpw, rpw = secrets.token_hex(16), secrets.token_hex(16)
    psql(
        f"CREATE ROLE {WRITER} LOGIN PASSWORD '{wpw}';\nCREATE ROLE {READER} LOGIN PASSWORD '{rpw}';\n"
        f"CREATE DATABASE {DB_NAME} OWNER {WRITER};\n"
    )
    psql("CREATE EXTENSION postgis;\n", db=DB_NAME)
    return (
        f"postgresql+psycopg2://{WRITER}:{wpw}@127.0.0.1:5432/{DB_NAME}",
        f"postgresql://{READER}:{rpw}@127.0.0.1:5432/{DB_NAME}",
    )


ADMIN = [str(PYCSW_VENV / "bin" / "python"), str(PYCSW_VENV / "bin" / "pycsw-admin.py")]


class StockLoader(threading.Thread):
    """Runs ``pycsw-admin.py -c load_records -r`` on the chunks of files handed to it, as they come:
    every run takes all the chunks finished so far (moved into one batch directory)."""

    def __init__(self, cfg: pathlib.Path, cwd: pathlib.Path, batches_dir: pathlib.Path, log: pathlib.Path):
        super().__init__(daemon=True)
        self.cfg, self.cwd, self.batches_dir, self.log = cfg, cwd, batches_dir, log
        self.cond = threading.Condition()
        self.pending, self.closed, self.aborted = [], False, False
        self.proc, self.error, self.loaded, self.batches, self.finished_at = None, None, 0, [], None

    def add(self, chunk_dir: pathlib.Path, count: int):
        with self.cond:
            self.pending.append((chunk_dir, count))
            self.cond.notify()

    def close(self):
        with self.cond:
            self.closed = True
            self.cond.notify()

    def run(self):
        try:
            while True:
                with self.cond:
                    while not self.pending and not self.closed and not self.aborted:
                        self.cond.wait()
                    if self.aborted or (not self.pending and self.closed):
                        break
                    batch, self.pending = self.pending, []
                target = self.batches_dir / f"batch-{len(self.batches):04d}"
                target.mkdir(parents=True)
                for chunk_dir, _ in batch:
                    chunk_dir.rename(target / chunk_dir.name)
                started = time.perf_counter()
                with open(self.log, "ab") as log:
                    self.proc = subprocess.Popen(
                        ADMIN + ["-c", "load_records", "-p", str(target), "-r", "-f", str(self.cfg)],
                        env=clean_env(),
                        cwd=self.cwd,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                    if self.proc.wait():
                        raise RuntimeError(f"pycsw-admin load_records failed ({self.proc.returncode}); see {self.log}")
                count = sum(c for _, c in batch)
                self.batches.append((started, time.perf_counter(), count))
                self.loaded += count
        except Exception as err:  # noqa: BLE001 - reported by finish()
            self.error = err
        finally:
            self.finished_at = time.perf_counter()

    def finish(self):
        """Wait for the last batch; raise what went wrong."""
        self.close()
        self.join()
        if self.error:
            raise self.error

    def abort(self):
        with self.cond:
            self.aborted = True
            self.cond.notify()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.join(30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYCSW")}
    env.update(extra)
    return env


class Server:
    """A gunicorn process (own session) that this script started, stopped by its pid."""

    def __init__(self, name: str, command: list, env: dict, cwd: pathlib.Path, log: pathlib.Path, url: str):
        self.name, self.url, self.log = name, url, log
        self.log_fh = open(log, "wb")
        self.proc = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=self.log_fh, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.time() + 90
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited: see {log}:\n{log.read_text(errors='replace')[-2000:]}")
            try:
                r = requests.get(
                    url, params={"service": "CSW", "version": "2.0.2", "request": "GetCapabilities"}, timeout=10
                )
                if r.status_code == 200 and b"Capabilities" in r.content:
                    break
            except requests.RequestException:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"{name} did not answer within 90 s; see {log}")
            time.sleep(0.5)

    def pids(self) -> list[int]:
        """The master and its live children (workers)."""
        master = self.proc.pid
        out = [master]
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == master:
                    out.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
        return out

    def rss_mib(self) -> tuple[float, int]:
        total, count = 0, 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/status") as fh:
                    for line in fh:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
                            count += 1
            except OSError:
                continue
        return total / 1024, count

    def stop(self):
        if self.proc.poll() is None:
            children = self.pids()[1:]
            self.proc.send_signal(signal.SIGTERM)  # gunicorn stops its workers
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            for pid in children:  # workers orphaned by a killed master, if any
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.log_fh.close()


# --- CSW client (GeoNetwork's request shapes) ----------------------------------------------------


def get_records_body(start: int) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<csw:GetRecords xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" xmlns:gmd="{GMD_URI}"
    service="CSW" version="2.0.2" resultType="results" startPosition="{start}" maxRecords="{PAGE}"
    outputSchema="{GMD_URI}">
  <csw:Query typeNames="gmd:MD_Metadata">
    <csw:ElementSetName typeNames="gmd:MD_Metadata">summary</csw:ElementSetName>
  </csw:Query>
</csw:GetRecords>""".encode()


POST_HEADERS = {"Content-Type": "application/xml; charset=UTF-8", "Accept": "application/xml"}


def get_records(session: requests.Session, url: str, start: int) -> bytes:
    r = session.post(url, data=get_records_body(start), headers=POST_HEADERS, timeout=120)
    r.raise_for_status()
    return r.content


# AnyText wildcard searches as GeoNetwork / QGIS' MetaSearch send them (issue #19 item 5); ASCII only,
# so that stock pycsw (SQLite LIKE: ASCII case-insensitive, accent-sensitive) can match the same records
WILDCARD_PATTERNS = ("%chiropt%", "odon%", "%mares foresti%", "%capture-marquage%")


def wildcard_body(pattern: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<csw:GetRecords xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" xmlns:ogc="http://www.opengis.net/ogc"
    xmlns:gmd="{GMD_URI}" service="CSW" version="2.0.2" resultType="results" startPosition="1"
    maxRecords="{PAGE}" outputSchema="{GMD_URI}">
  <csw:Query typeNames="gmd:MD_Metadata">
    <csw:ElementSetName typeNames="gmd:MD_Metadata">summary</csw:ElementSetName>
    <csw:Constraint version="1.1.0">
      <ogc:Filter>
        <ogc:PropertyIsLike wildCard="%" singleChar="_" escapeChar="\\">
          <ogc:PropertyName>csw:AnyText</ogc:PropertyName>
          <ogc:Literal>{pattern}</ogc:Literal>
        </ogc:PropertyIsLike>
      </ogc:Filter>
    </csw:Constraint>
  </csw:Query>
</csw:GetRecords>""".encode()


def bench_wildcards(url: str, count: int) -> dict:
    """GetRecords (POST, summary, 20 per page) with an AnyText PropertyIsLike, the patterns in turn;
    percentiles plus {pattern: numberOfRecordsMatched}."""
    session = requests.Session()
    matched = {}
    for pattern in WILDCARD_PATTERNS:  # warm-up, and the counts
        r = session.post(url, data=wildcard_body(pattern), headers=POST_HEADERS, timeout=300)
        r.raise_for_status()
        matched[pattern], returned, _, items = parse_page(r.content)
        if returned != min(PAGE, matched[pattern]) or len(items) != returned:
            raise ValueError(f"{url}: {pattern}: matched={matched[pattern]} returned={returned} items={len(items)}")
    timings = []
    for k in range(count):
        body = wildcard_body(WILDCARD_PATTERNS[k % len(WILDCARD_PATTERNS)])
        t0 = time.perf_counter()
        r = session.post(url, data=body, headers=POST_HEADERS, timeout=300)
        timings.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
        parse_page(r.content)
    return {**percentiles(timings), "matched": matched}


def parse_page(content: bytes) -> tuple[int, int, int, list]:
    """(matched, returned, nextRecord, [(fileIdentifier, dateStamp)]) of a GetRecords response."""
    root = etree.fromstring(content)
    results = root.find("csw:SearchResults", NS)
    if results is None:
        raise ValueError(f"no csw:SearchResults: {content[:300]!r}")
    items = []
    for md in results.findall("gmd:MD_Metadata", NS):
        ident = md.findtext("gmd:fileIdentifier/gco:CharacterString", namespaces=NS)
        stamp = md.findtext("gmd:dateStamp/gco:DateTime", namespaces=NS) or md.findtext(
            "gmd:dateStamp/gco:Date", namespaces=NS
        )
        items.append((ident, stamp))
    return (
        int(results.get("numberOfRecordsMatched")),
        int(results.get("numberOfRecordsReturned")),
        int(results.get("nextRecord")),
        items,
    )


def get_record_by_id(session: requests.Session, url: str, ident: str) -> bytes:
    r = session.get(
        url,
        params={
            "service": "CSW",
            "version": "2.0.2",
            "request": "GetRecordById",
            "id": ident,
            "elementSetName": "full",
            "outputSchema": GMD_URI,
        },
        timeout=120,
    )
    r.raise_for_status()
    return r.content


def check_record(content: bytes, ident: str):
    root = etree.fromstring(content)
    children = root.findall("gmd:MD_Metadata", NS)
    if len(children) != 1 or children[0].findtext("gmd:fileIdentifier/gco:CharacterString", namespaces=NS) != ident:
        raise ValueError(f"GetRecordById {ident}: unexpected answer {content[:300]!r}")


def bench_get_records(url: str, n_records: int, count: int, seed: int) -> dict:
    rnd = random.Random(seed)
    session = requests.Session()
    for _ in range(10):  # warm-up (both workers, imports, caches)
        parse_page(get_records(session, url, rnd.randint(1, max(1, n_records - PAGE + 1))))
    timings = []
    for _ in range(count):
        start = rnd.randint(1, max(1, n_records - PAGE + 1))
        t0 = time.perf_counter()
        content = get_records(session, url, start)
        timings.append((time.perf_counter() - t0) * 1000)
        matched, returned, _, items = parse_page(content)
        if matched != n_records or returned != min(PAGE, n_records - start + 1) or len(items) != returned:
            raise ValueError(f"{url}: page {start}: matched={matched} returned={returned} items={len(items)}")
    return percentiles(timings)


def bench_get_record_by_id(url: str, ids: list, count: int, seed: int) -> dict:
    rnd = random.Random(seed)
    session = requests.Session()
    for ident in rnd.sample(ids, 10):
        check_record(get_record_by_id(session, url, ident), ident)
    timings = []
    for ident in (rnd.choice(ids) for _ in range(count)):
        t0 = time.perf_counter()
        content = get_record_by_id(session, url, ident)
        timings.append((time.perf_counter() - t0) * 1000)
        check_record(content, ident)
    return percentiles(timings)


def bench_get_capabilities(url: str, count: int) -> dict:
    """Diagnostic: pycsw's fixed cost per request (it builds and reflects its repository every time)."""
    session = requests.Session()
    params = {"service": "CSW", "version": "2.0.2", "request": "GetCapabilities"}
    timings = []
    for k in range(count + 5):
        t0 = time.perf_counter()
        session.get(url, params=params, timeout=120).raise_for_status()
        if k >= 5:
            timings.append((time.perf_counter() - t0) * 1000)
    return percentiles(timings)


def harvest(url: str, ids: list, fetch: int, seed: int) -> dict:
    """GeoNetwork's harvest: every page of 20 by POST (stop rules: nextRecord 0 or > matched), then
    GetRecordById for ``fetch`` of the listed records (all if fetch >= N)."""
    session = requests.Session()
    seen = collections.Counter()
    stamps = {}
    t0 = time.perf_counter()
    start, pages, matched = 1, 0, None
    while True:
        m, returned, next_record, items = parse_page(get_records(session, url, start))
        pages += 1
        matched = m if matched is None else matched
        if returned != len(items):
            raise ValueError(f"{url}: numberOfRecordsReturned={returned} but {len(items)} records")
        for ident, stamp in items:
            seen[ident] += 1
            stamps[ident] = stamp
        if next_record == 0 or next_record > m or not items:
            break
        start = next_record
    list_s = time.perf_counter() - t0
    expected = set(ids)
    duplicates = sum(1 for c in seen.values() if c > 1)
    missing = len(expected - set(seen))
    unexpected = len(set(seen) - expected)
    no_stamp = sum(1 for s in stamps.values() if not s)
    sample = sorted(seen) if fetch >= len(seen) else random.Random(seed).sample(sorted(seen), fetch)
    t1 = time.perf_counter()
    for ident in sample:
        check_record(get_record_by_id(session, url, ident), ident)
    fetch_s = time.perf_counter() - t1
    return {
        "pages": pages,
        "matched": matched,
        "list_s": list_s,
        "fetch_n": len(sample),
        "fetch_s": fetch_s,
        "seen": len(seen),
        "duplicates": duplicates,
        "missing": missing,
        "unexpected": unexpected,
        "no_stamp": no_stamp,
        "exactly_once": duplicates == 0 and missing == 0 and unexpected == 0 and len(seen) == len(ids),
    }


def soak(server: Server, n_records: int, seconds: int, clients: int, interval: int) -> dict:
    """``clients`` GeoNetwork-like harvesters (a page of 20, then GetRecordById for each of its records,
    next page...) for ``seconds``; RSS of master + workers every ``interval`` s."""
    stop = threading.Event()
    lock = threading.Lock()
    stats = {"requests": 0, "errors": 0, "get_records": 0, "get_record_by_id": 0}
    error_samples = []

    def client(k):
        rnd = random.Random(f"soak-{k}")
        session = requests.Session()
        start = rnd.randint(1, max(1, n_records - PAGE + 1))
        while not stop.is_set():
            kind, ok = "get_records", True
            try:
                _, _, next_record, items = parse_page(get_records(session, server.url, start))
                start = next_record if 0 < next_record <= n_records else 1
            except Exception as err:  # noqa: BLE001 - counted
                ok, items = False, []
                with lock:
                    error_samples.append(repr(err)[:200])
            with lock:
                stats["requests"] += 1
                stats[kind] += 1
                stats["errors"] += 0 if ok else 1
            for ident, _ in items:
                if stop.is_set():
                    break
                ok = True
                try:
                    check_record(get_record_by_id(session, server.url, ident), ident)
                except Exception as err:  # noqa: BLE001 - counted
                    ok = False
                    with lock:
                        error_samples.append(repr(err)[:200])
                with lock:
                    stats["requests"] += 1
                    stats["get_record_by_id"] += 1
                    stats["errors"] += 0 if ok else 1

    samples = [(0.0, *server.rss_mib())]
    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    while True:
        next_at = len(samples) * interval
        time.sleep(max(0.0, t0 + next_at - time.perf_counter()))
        samples.append((time.perf_counter() - t0, *server.rss_mib()))
        if next_at >= seconds:
            break
    stop.set()
    for t in threads:
        t.join(180)
    elapsed = time.perf_counter() - t0
    return {**stats, "samples": samples, "elapsed": elapsed, "error_samples": error_samples[:5]}


# --- main ---------------------------------------------------------------------------------------


def fmt_ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def fmt_s(value: float) -> str:
    return f"{value:.1f} s" if value < 100 else f"{value:.0f} s ({value / 60:.1f} min)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--get-records", type=int, default=200)
    parser.add_argument("--get-record-by-id", type=int, default=300)
    parser.add_argument("--wildcards", type=int, default=100, help="GetRecords with an AnyText wildcard filter")
    parser.add_argument(
        "--harvest-fetch", type=int, default=1000, help="GetRecordById calls after the listing (all records if >= N)"
    )
    parser.add_argument("--soak-seconds", type=int, default=60)
    parser.add_argument("--soak-clients", type=int, default=20)
    parser.add_argument("--keep-tmp", action="store_true", help="do not delete the temporary directory")
    parser.add_argument(
        "--previous",
        metavar="REV",
        help="also serve pycsw_config/ as it was at this git revision (same table) and measure its GetRecords, "
        "GetRecordById and GetCapabilities in the same run",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (the database is created through su postgres -c psql)")
    n = args.records
    n_ca = (n + 9) // 10
    run_started = time.perf_counter()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="sinp-bench-csw-"))
    servers: list[Server] = []
    loader = shm = None
    db_created = False
    try:
        from sqlalchemy import create_engine, text

        from ckanext.sinp.csw import repository

        # 1. our table in a scratch database, and stock pycsw's SQLite repository
        writer_url, reader_url = create_database()
        db_created = True
        engine = create_engine(writer_url)
        repository.ensure_table(engine)
        repository.grant_reader(engine, READER)
        engine.dispose()
        stock_dir = tmp / "stock"
        stock_dir.mkdir()
        stock_port, ours_port = free_port(), free_port()
        stock_url = f"http://127.0.0.1:{stock_port}/csw"
        # pycsw-admin commits every record (≈ 50 indexes each): load on tmpfs when there is room, to
        # spare the fsyncs, then serve a copy of the file from the temporary directory on disk
        stock_cfg, stock_db = stock_dir / "pycsw.cfg", stock_dir / "records.db"
        load_db = stock_db
        if os.path.isdir("/dev/shm") and shutil.disk_usage("/dev/shm").free > n * 60_000 + (1 << 30):
            shm = pathlib.Path(tempfile.mkdtemp(prefix="sinp-bench-csw-", dir="/dev/shm"))
            load_db = shm / "records.db"
        stock_config(stock_cfg, stock_dir, stock_url, load_db)
        admin_log = tmp / "pycsw-admin.log"
        with open(admin_log, "ab") as log:
            subprocess.run(
                ADMIN + ["-c", "setup_db", "-f", str(stock_cfg)],
                env=clean_env(),
                cwd=stock_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
            )

        # 1b. both filled at once: 2 processes render the documents, write the files and insert our
        #     rows; meanwhile pycsw-admin load_records loads every finished chunk of 1000 files.
        xml_dir = tmp / "xml"
        xml_dir.mkdir()
        loader = StockLoader(stock_cfg, stock_dir, tmp / "stock-batches", admin_log)
        loader.start()
        tasks = [(s, min(s + 1000, n), n_ca, str(xml_dir), writer_url) for s in range(0, n, 1000)]
        t0 = time.perf_counter()
        ids, render_s, insert_s = [], 0.0, 0.0
        with multiprocessing.get_context("fork").Pool(WORKERS) as pool:
            for k, res in enumerate(pool.imap(generate_chunk, tasks), 1):
                ids += res["ids"]
                render_s += res["render_s"]
                insert_s += res["insert_s"]
                loader.add(pathlib.Path(res["dir"]), len(res["ids"]))
                if k % 10 == 0 or k == len(tasks):
                    print(
                        f"  ours: {len(ids)}/{n} ({time.perf_counter() - t0:.0f} s); stock: {loader.loaded}/{n}",
                        flush=True,
                    )
        generate_s = time.perf_counter() - t0
        if len(set(ids)) != n:
            raise RuntimeError(f"{n - len(set(ids))} duplicate identifiers generated")
        print(
            f"ours: {n} records rendered and inserted in {generate_s:.0f} s (render {render_s:.0f} s, "
            f"INSERT {insert_s:.0f} s of process time)",
            flush=True,
        )
        loader.close()
        while loader.is_alive():
            loader.join(60)
            print(f"  stock: {loader.loaded}/{n} ({time.perf_counter() - t0:.0f} s)", flush=True)
        loader.finish()
        stock_load_s = loader.finished_at - t0
        alone = [(b1 - b0, c) for b0, b1, c in loader.batches if b0 >= t0 + generate_s]
        stock_alone_rate = sum(c for _, c in alone) / sum(d for d, _ in alone) if alone else None
        if load_db != stock_db:
            shutil.copyfile(load_db, stock_db)
            shutil.rmtree(shm)
            shm = None
            stock_config(stock_cfg, stock_dir, stock_url, stock_db)
        with contextlib.closing(sqlite3.connect(stock_db)) as con:
            stock_rows = con.execute("SELECT count(*) FROM records").fetchone()[0]
        if stock_rows != n:
            raise RuntimeError(f"stock pycsw loaded {stock_rows} of {n} records; see {admin_log}")
        stock_mib = stock_db.stat().st_size / 1048576
        xml_mib = sum(f.stat().st_size for f in tmp.rglob("*.xml")) / 1048576
        print(
            f"stock: {n} records loaded after {stock_load_s:.0f} s"
            + (f" ({stock_alone_rate:.0f} records/s once alone)" if stock_alone_rate else "")
            + f"; SQLite {stock_mib:.0f} MiB",
            flush=True,
        )
        engine = create_engine(writer_url, isolation_level="AUTOCOMMIT")
        table_name = repository.get_table().name
        with engine.connect() as conn:
            conn.execute(text(f"VACUUM (ANALYZE) {table_name}"))  # what autovacuum does after a bulk load
            ours_rows = conn.execute(text(f"SELECT count(*) FROM {table_name}")).scalar()
            table_mib = conn.execute(text(f"SELECT pg_total_relation_size('{table_name}') / 1048576.0")).scalar()
        engine.dispose()
        if ours_rows != n:
            raise RuntimeError(f"our table holds {ours_rows} rows, expected {n}")
        load_s = time.perf_counter() - t0
        print(f"generation + loading: {fmt_s(load_s)}; table {table_mib:.0f} MiB", flush=True)

        # 2. servers
        gunicorn = str(PYCSW_VENV / "bin" / "gunicorn")
        ours_url = f"http://127.0.0.1:{ours_port}/csw"
        ours = Server(
            "ours",
            [
                gunicorn,
                "--chdir",
                str(PYCSW_CONFIG_DIR),
                "wsgi:application",
                "--bind",
                f"127.0.0.1:{ours_port}",
                *GUNICORN_OPTS,
            ],
            clean_env(
                PYCSW_SERVER_URL=ours_url,
                PYCSW_DATABASE_URL=reader_url,
                SINP_CONTACT_EMAIL="sinp@bourgogne-franche-comte.invalid",
            ),
            PYCSW_CONFIG_DIR,
            tmp / "ours.log",
            ours_url,
        )
        servers.append(ours)
        stock = Server(
            "stock",
            [gunicorn, "pycsw.wsgi:application", "--bind", f"127.0.0.1:{stock_port}", *GUNICORN_OPTS],
            clean_env(PYCSW_CONFIG=str(stock_cfg)),
            stock_dir,
            tmp / "stock.log",
            stock_url,
        )
        servers.append(stock)
        previous = None
        if args.previous:
            previous_dir = tmp / "previous_config"
            previous_dir.mkdir()
            for name in ("wsgi.py", "mappings.py", "sinp_wildcards.py", "db_errors.py", "pycsw.cfg"):
                shown = subprocess.run(
                    ["git", "show", f"{args.previous}:pycsw_config/{name}"], cwd=ROOT, capture_output=True, check=False
                )
                if shown.returncode == 0:
                    (previous_dir / name).write_bytes(shown.stdout)
            previous_port = free_port()
            previous_url = f"http://127.0.0.1:{previous_port}/csw"
            previous = Server(
                "previous",
                [
                    gunicorn,
                    "--chdir",
                    str(previous_dir),
                    "wsgi:application",
                    "--bind",
                    f"127.0.0.1:{previous_port}",
                    *GUNICORN_OPTS,
                ],
                clean_env(
                    PYCSW_SERVER_URL=previous_url,
                    PYCSW_DATABASE_URL=reader_url,
                    SINP_CONTACT_EMAIL="sinp@bourgogne-franche-comte.invalid",
                ),
                previous_dir,
                tmp / "previous.log",
                previous_url,
            )
            servers.append(previous)

        # 3. measurements, one server at a time
        results = {}
        if previous is not None:
            results["previous"] = {
                "rev": args.previous,
                "get_records": bench_get_records(previous.url, n, args.get_records, seed=1),
                "by_id": bench_get_record_by_id(previous.url, ids, args.get_record_by_id, seed=2),
                "caps": bench_get_capabilities(previous.url, 50),
            }
            print(f"previous ({args.previous}): {results['previous']}", flush=True)
            previous.stop()
            servers.remove(previous)
        for name, server in (("ours", ours), ("stock", stock)):
            t0 = time.perf_counter()
            gr = bench_get_records(server.url, n, args.get_records, seed=1)
            print(f"{name}: GetRecords p50 {gr['p50']:.1f} ms p95 {gr['p95']:.1f} ms", flush=True)
            gbi = bench_get_record_by_id(server.url, ids, args.get_record_by_id, seed=2)
            print(f"{name}: GetRecordById p50 {gbi['p50']:.1f} ms p95 {gbi['p95']:.1f} ms", flush=True)
            caps = bench_get_capabilities(server.url, 50)
            print(f"{name}: GetCapabilities p50 {caps['p50']:.1f} ms", flush=True)
            wild = bench_wildcards(server.url, args.wildcards)
            print(f"{name}: wildcard GetRecords p50 {wild['p50']:.1f} ms p95 {wild['p95']:.1f} ms {wild['matched']}")
            if name == "ours" and not all(wild["matched"].values()):
                raise RuntimeError(f"a wildcard search found nothing on our endpoint: {wild['matched']}")
            hv = harvest(server.url, ids, args.harvest_fetch, seed=3)
            print(f"{name}: harvest {hv}", flush=True)
            results[name] = {
                "get_records": gr,
                "by_id": gbi,
                "caps": caps,
                "wildcards": wild,
                "harvest": hv,
                "seconds": time.perf_counter() - t0,
            }

        # 4. memory soak of ours
        print(f"soak: {args.soak_clients} clients for {args.soak_seconds} s against ours", flush=True)
        soaked = soak(ours, n, args.soak_seconds, args.soak_clients, 5)
        print(
            f"soak: {soaked['requests']} requests, {soaked['errors']} errors; RSS "
            + ", ".join(f"{t:.0f}s {m:.0f} MiB/{c}p" for t, m, c in soaked["samples"]),
            flush=True,
        )
        total_s = time.perf_counter() - run_started
        loading = {
            "ours_s": generate_s,
            "render_s": render_s,
            "insert_s": insert_s,
            "stock_s": stock_load_s,
            "stock_alone_rate": stock_alone_rate,
            "total_s": load_s,
            "stock_on_tmpfs": load_db != stock_db,
        }
        write_sections(args, n, n_ca, loading, xml_mib, table_mib, stock_mib, results, soaked, total_s)
    finally:
        if loader is not None and loader.is_alive():
            loader.abort()
        for server in reversed(servers):
            try:
                server.stop()
            except Exception as err:  # noqa: BLE001 - keep cleaning up
                print(f"could not stop {server.name}: {err}", file=sys.stderr)
        if db_created:
            try:
                drop_database()
            except Exception as err:  # noqa: BLE001
                print(f"could not drop {DB_NAME}: {err}", file=sys.stderr)
        if shm is not None:
            shutil.rmtree(shm, ignore_errors=True)
        if args.keep_tmp:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def write_sections(args, n, n_ca, loading, xml_mib, table_mib, stock_mib, results, soaked, total_s):
    o, s = results["ours"], results["stock"]
    oh, sh = o["harvest"], s["harvest"]

    def ratio(a, b):
        return f"{a / b:.2f}" if b else "n/a"

    def row(label, a, b, goal="", fmt=fmt_ms):
        return f"| {label} | {fmt(a)} | {fmt(b)} | {ratio(a, b)} | {goal} |"

    def once(h):
        verdict = "yes" if h["exactly_once"] else "**no**"
        return f"{verdict} ({h['seen']} distinct of {n}, {h['duplicates']} duplicated, {h['missing']} missing)"

    def stamps(h):
        return "all" if not h["no_stamp"] else f"**{h['no_stamp']} without**"

    def full_estimate(h):
        return h["list_s"] + h["fetch_s"] / h["fetch_n"] * n

    def verdict(ours_p50, stock_p50, limit):
        parts = [
            f"ratio {ratio(ours_p50, stock_p50)} " + ("≤ 1.0: met" if ours_p50 <= stock_p50 else "> 1.0: **not met**"),
            f"p50 {fmt_ms(ours_p50)} " + (f"≤ {limit} ms: met" if ours_p50 <= limit else f"> {limit} ms: **not met**"),
        ]
        return "; ".join(parts)

    fetch_label = f"all {n}" if oh["fetch_n"] >= n else f"a random sample of {oh['fetch_n']}"
    stock_rate = (
        f" ({loading['stock_alone_rate']:.0f} records/s once it ran alone)" if loading["stock_alone_rate"] else ""
    )
    on_shm = (
        ", into a SQLite file on tmpfs to spare the fsyncs, copied to disk before serving"
        if loading["stock_on_tmpfs"]
        else ""
    )
    gr = (o["get_records"], s["get_records"])
    ow, sw = o["wildcards"], s["wildcards"]
    matched = ", ".join(f"`{p}` {ow['matched'][p]} / {sw['matched'][p]}" for p in ow["matched"])
    gbi = (o["by_id"], s["by_id"])
    full_goal = "≤ 5 min at 100000" if n == 100_000 else f"≤ {300 * n / 100_000:.0f} s (5 min × {n}/100000)"
    scaled = (
        ""
        if n == 100_000
        else f" (× 100000/{n} at a constant cost per page and per record: {fmt_s(full_estimate(oh) * 100_000 / n)}"
        " for 100000; goal ≤ 5 min)"
    )
    before = ""
    if "previous" in results:
        p = results["previous"]
        before = (
            f"\nSame run, same table, our endpoint as it was at `{p['rev']}` (before issue #20 item 5): GetRecords "
            f"p50 {fmt_ms(p['get_records']['p50'])} (p95 {fmt_ms(p['get_records']['p95'])}), GetRecordById p50 "
            f"{fmt_ms(p['by_id']['p50'])} (p95 {fmt_ms(p['by_id']['p95'])}), GetCapabilities p50 "
            f"{fmt_ms(p['caps']['p50'])}."
        )
    body = f"""## CSW at {n} records: our endpoint vs stock pycsw 2.6.2 (`bench/bench_csw.py`)

Machine: {machine()}. {n} ISO 19139 records from the extension's generator (`iso.to_iso19139`):
{n_ca} CA (`series`) and {n - n_ca} JDD (`dataset`, bbox over Bourgogne-Franche-Comté), French titles and
abstracts, 3–4 actors, 0–2 downloads; {xml_mib:.0f} MiB of XML.

- **Ours**: rows from `iso.csw_row` in our table (`csw.repository.ensure_table`, PostgreSQL 15 + PostGIS,
  {table_mib:.0f} MiB with indexes, `VACUUM ANALYZE` after the load) in a scratch database, served by
  `pycsw_config/wsgi.py` through a read-only role.
- **Stock**: the same documents as files, `pycsw-admin.py -c setup_db` + `-c load_records -r` into
  pycsw's default SQLite repository ({stock_mib:.0f} MiB), default mappings, pycsw's default-sample
  configuration with `maxrecords=100`, served by `pycsw.wsgi:application`.
- Loading, both at once on the 2 cores: two processes render the documents and insert our rows (250 per
  INSERT), done after {fmt_s(loading["ours_s"])}; meanwhile `load_records` (one process, one commit per
  record{on_shm}) loads every finished chunk of 1000 files, done after
  {fmt_s(loading["stock_s"])}{stock_rate}. Generation + loading: {fmt_s(loading["total_s"])}.
- Both: gunicorn, 2 workers, `--max-requests 200 --max-requests-jitter 20`, loopback; one server measured
  at a time, after 10 warm-up requests. Requests as GeoNetwork sends them (CSW_HARVESTERS.md §5.2–5.3):
  GetRecords by POST, `resultType=results`, `summary`, outputSchema gmd, typeNames `gmd:MD_Metadata`,
  `maxRecords=20`, no filter, random `startPosition` ({args.get_records} requests); GetRecordById by
  GET, `full`, gmd, random known ids ({args.get_record_by_id} requests). Harvest: every page of 20 by
  POST from `startPosition=1` until `nextRecord=0`, collecting `fileIdentifier` + `dateStamp`, then
  GetRecordById (`full`) for {fetch_label} of the listed identifiers.

| measure | ours | stock pycsw 2.6.2 | ours / stock | goal |
|---|---|---|---|---|
{row("GetRecords, GeoNetwork page of 20, p50", gr[0]["p50"], gr[1]["p50"], "p50 ≤ 20 ms")}
{row("GetRecords, p95", gr[0]["p95"], gr[1]["p95"])}
{row("GetRecordById `full`, p50", gbi[0]["p50"], gbi[1]["p50"], "p50 ≤ 3 ms")}
{row("GetRecordById `full`, p95", gbi[0]["p95"], gbi[1]["p95"])}
{row("GetRecords, AnyText `PropertyIsLike` wildcard, page of 20, p50", ow["p50"], sw["p50"], "p50 ≤ 100 ms")}
{row("GetRecords, AnyText wildcard, p95", ow["p95"], sw["p95"])}
{row("diagnostic: GetCapabilities, p50 (pycsw's fixed cost per request)", o["caps"]["p50"], s["caps"]["p50"])}
{row(f"harvest: listing, {oh['pages']} pages of 20", oh["list_s"], sh["list_s"], "", fmt_s)}
{row(f"harvest: GetRecordById for {fetch_label}", oh["fetch_s"], sh["fetch_s"], "", fmt_s)}
{row("harvest: total of the two lines above", oh["list_s"] + oh["fetch_s"], sh["list_s"] + sh["fetch_s"], "", fmt_s)}
{row(f"estimate: listing + GetRecordById for all {n}", full_estimate(oh), full_estimate(sh), full_goal, fmt_s)}
| harvest: every identifier listed exactly once | {once(oh)} | {once(sh)} | | yes |
| harvest: listed records with a `dateStamp` | {stamps(oh)} | {stamps(sh)} | | all |

GetRecords: {verdict(gr[0]["p50"], gr[1]["p50"], 20)}. GetRecordById: {verdict(gbi[0]["p50"], gbi[1]["p50"], 3)}.
Full harvest: {fmt_s(full_estimate(oh))} for {n} records{scaled}.{before}
Wildcard search: {verdict(ow["p50"], sw["p50"], 100)}. {args.wildcards} GetRecords by POST (`summary`, gmd, 20 per page,
`startPosition=1`) with one `ogc:PropertyIsLike` on `csw:AnyText` (`wildCard="%"`), the patterns in turn;
records matched (ours / stock): {matched}. Ours: lower-cased unaccented generated column with a
trigram index (`pycsw_config/sinp_wildcards.py`); stock: `LIKE` over every row of its SQLite table.
The estimate extrapolates the sample's GetRecordById rate to every record (a first harvest fetches all).
Whole run (generation, loading, measurements, soak): {fmt_s(total_s)}.
"""
    samples = soaked["samples"]
    rss = [m for _, m, _ in samples]
    start, peak, end = rss[0], max(rss), rss[-1]
    per_sample = " · ".join(f"{t:.0f} s: {m:.0f}" for t, m, _ in samples)
    errors = f"{soaked['errors']}" + (f" (e.g. `{soaked['error_samples'][0]}`)" if soaked["error_samples"] else "")
    soak_body = f"""## CSW memory under {args.soak_clients} concurrent harvesters (`bench/bench_csw.py`)

Machine: {machine()}. Issue item: "memory stays flat under a 60-second loop of 20 concurrent harvest
clients (gunicorn worker recycling)". Our endpoint only, the server and {n} records of the section "CSW at
{n} records" (gunicorn, 2 workers, `--max-requests 200 --max-requests-jitter 20`). {args.soak_clients} client
threads for {soaked["elapsed"]:.0f} s, each harvesting like GeoNetwork from a random page: GetRecords by POST
(`summary`, gmd, 20 per page), then GetRecordById `full` for each record of the page, then the next page.
RSS = sum of VmRSS of the gunicorn master and its live workers, sampled every 5 s.

| requests | GetRecords | GetRecordById | errors | req/s | RSS start | RSS max | RSS end | end − start |
|---|---|---|---|---|---|---|---|---|
| {soaked["requests"]} | {soaked["get_records"]} | {soaked["get_record_by_id"]} | {errors} | \
{soaked["requests"] / soaked["elapsed"]:.0f} | {start:.0f} MiB | {peak:.0f} MiB | {end:.0f} MiB | \
{end - start:+.0f} MiB |

RSS samples (s: MiB): {per_sample}.
"""
    write_section("csw", body)
    write_section("csw-soak", soak_body)
    print(body)
    print(soak_body)


if __name__ == "__main__":
    main()
