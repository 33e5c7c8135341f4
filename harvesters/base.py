"""What the SINP harvesters (MTD, CSW) share: configuration, remote calls, the gather bookkeeping
(one harvest object per remote record, withdrawals) and the import of one record through the same
writer as ``sinp_mtd_import`` (``ckanext.sinp.logic.records``).

Rules common to both harvesters:

* **One record, one object.** Gather creates one harvest object per remote record that is new,
  changed, or failed last time; the CA before the JDD. Fetch downloads the record; a record whose
  document (and the source configuration) did not change since its last import is "not modified".
* **Nothing is deleted.** A record that the source no longer lists is withdrawn: its dataset is made
  private and the withdrawal is reported in the job (an object of status "deleted" with a French
  message). Withdrawals happen only after a complete listing: a listing that failed, was cut short
  or came back empty while records had been harvested withdraws nothing (gather error).
* **No copies, no loops.** A record whose UUID is already in the catalogue without having been
  harvested from this source (our own records, seen through our CSW or a catalogue that
  re-publishes them, or the records of another source) is left alone.
* **One bad record does not stop the job.** Each record's errors are its object's errors; the
  record is written in its own transaction, so a failing record leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import json
import logging

import ckan.model as model
import ckan.plugins as p
import ckan.plugins.toolkit as tk
from ckanext.harvest.harvesters.base import HarvesterBase
from ckanext.harvest.interfaces import IHarvester
from ckanext.harvest.model import HarvestObject, HarvestObjectExtra

from ckanext.sinp import guarded_http
from ckanext.sinp.logic import queries
from ckanext.sinp.logic import records as writer
from ckanext.sinp.logic.validators import HARVESTED_ORIGIN, INCOMPLETE_ALLOWED, READABLE_CA_CACHE

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30
# a harvested record is searchable within this delay (Solr commitWithin) instead of a hard commit per record
SOLR_COMMIT_WITHIN_MS = 1000
USER_AGENT = "ckanext-sinp harvester (+https://github.com/)"
WITHDRAW = "withdraw"
# an object whose content the gather stage already holds (e.g. the source's own CA, described
# from its GetCapabilities): fetch downloads nothing
GATHERED = "gathered"
# an object whose document the gather stage already holds (a full record of a GetRecords page):
# fetch downloads nothing, import reads it as it would a downloaded one
LISTED = "listed"
INFORMATION = "Information"  # stage of an object error that is a note, not a failure
KIND_LABELS = {"ca": "Cadre d'acquisition", "jdd": "Jeu de données"}


class RemoteError(Exception):
    """A remote call that failed; the message is meant for the user (French)."""


def new_session() -> guarded_http.GuardedClient:
    """The HTTP client of a harvester: every request (and redirect) through the guarded client
    (``ckanext.sinp.guarded_http``: public http(s) servers only unless allow-listed, sizes and times
    bounded)."""
    return guarded_http.GuardedClient(user_agent=USER_AGENT)


def http_get(session: guarded_http.GuardedClient, url: str, timeout: float, what: str, **kwargs) -> bytes:
    return _http(session, "GET", url, timeout, what, **kwargs)


def http_post(session: guarded_http.GuardedClient, url: str, timeout: float, what: str, **kwargs) -> bytes:
    return _http(session, "POST", url, timeout, what, **kwargs)


def _http(session, method, url, timeout, what, data=None, headers=None) -> bytes:
    try:
        response = session.request(method, url, data=data, headers=headers, timeout=timeout)
    except guarded_http.GuardedHttpError as err:
        message = str(err) if err.refused else str(err)[:1].lower() + str(err)[1:]
        raise RemoteError(f"{what} : {message}") from None
    if response.status != 200:
        raise RemoteError(f"{what} : le serveur a répondu HTTP {response.status} ({url}).")
    return response.content


def parse_config(text: str | None) -> dict:
    if not text or not text.strip():
        return {}
    try:
        config = json.loads(text)
    except ValueError as err:
        raise ValueError(f"La configuration n'est pas du JSON valide : {err}.") from None
    if not isinstance(config, dict):
        raise ValueError('La configuration doit être un objet JSON, par exemple {"instance_id": "42"}.')
    return config


def check_common(config: dict, known: set) -> list[str]:
    """French messages for the keys every SINP source accepts (``private``, ``timeout``) and
    unknown keys."""
    messages = []
    for key in config:
        if key not in known | {"private", "timeout"}:
            messages.append(
                f"Clé « {key} » inconnue (clés possibles : {', '.join(sorted(known | {'private', 'timeout'}))})."
            )
    if "private" in config and not isinstance(config["private"], bool):
        messages.append("« private » vaut true ou false.")
    if "timeout" in config and (
        not isinstance(config["timeout"], (int, float))
        or isinstance(config["timeout"], bool)
        or not 1 <= config["timeout"] <= 600
    ):
        messages.append("« timeout » est un nombre de secondes entre 1 et 600.")
    return messages


def fingerprint(content: str, config: str | None) -> str:
    return hashlib.sha256((content + "\x00" + (config or "")).encode("utf-8")).hexdigest()


class SinpHarvester(HarvesterBase, p.SingletonPlugin):
    p.implements(IHarvester)

    config_keys: set = set()

    # --- configuration ------------------------------------------------------------------------

    def validate_config(self, config):
        parsed = parse_config(config)
        messages = check_common(parsed, self.config_keys) + self.check_config(parsed)
        if messages:
            raise ValueError(" ".join(messages))
        return config

    def check_config(self, config: dict) -> list[str]:
        return []

    def source_config(self, source) -> dict:
        try:
            return parse_config(source.config)
        except ValueError:
            return {}

    def timeout(self, config: dict) -> float:
        return float(config.get("timeout", DEFAULT_TIMEOUT))

    # --- gather bookkeeping ---------------------------------------------------------------------

    @staticmethod
    def current_objects(source_id: str) -> dict:
        """guid -> the current harvest object of each record imported from this source."""
        rows = model.Session.query(HarvestObject).filter(
            HarvestObject.harvest_source_id == source_id, HarvestObject.current.is_(True)
        )  # noqa: E712
        return {obj.guid: obj for obj in rows}

    @staticmethod
    def new_object(job, guid: str, content: str | None = None, **extras) -> str:
        obj = HarvestObject(
            guid=guid,
            job=job,
            source=job.source,
            content=content,
            extras=[HarvestObjectExtra(key=k, value=str(v)) for k, v in extras.items() if v is not None],
        )
        obj.save()
        return obj.id

    def withdraw_missing(self, job, current: dict, seen: set, complete: bool, empty_message: str) -> list[str]:
        """Objects that withdraw the records harvested before and not listed any more — only after a
        complete, non-empty listing; otherwise a gather error says why nothing is withdrawn.
        ``empty_message`` names the source's silence (« Le catalogue ne renvoie aucune fiche »)."""
        if not complete:
            return []
        if not seen and current:
            self._save_gather_error(
                f"{empty_message} alors que {len(current)} enregistrements en ont été "
                "moissonnés : par précaution, rien n'est retiré (vérifiez la configuration "
                "de la source).",
                job,
            )
            return []
        return [self.new_object(job, guid, status=WITHDRAW) for guid in sorted(set(current) - seen)]

    @staticmethod
    def extra(obj, key: str):
        for item in obj.extras:
            if item.key == key:
                return item.value
        return None

    # --- fetch ----------------------------------------------------------------------------------

    def fetch_stage(self, harvest_object):
        """Downloads the record (``download``), keeps it as the object's content; "unchanged" when
        its last import had the same document and configuration. Withdrawals fetch nothing."""
        obj = harvest_object
        if self.extra(obj, "status") == WITHDRAW:
            return True
        if self.extra(obj, "status") in (GATHERED, LISTED):
            return "unchanged" if self.unchanged(obj, obj.content or "") else True
        with new_session() as session:
            try:
                text = self.download(session, obj, self.timeout(self.source_config(obj.source)))
            except RemoteError as err:
                self._save_object_error(str(err), obj, "Fetch")
                return False
        obj.content = text
        obj.save()
        return "unchanged" if self.unchanged(obj, text) else True

    def download(self, session, obj, timeout: float) -> str:
        """The record's document (text); raises RemoteError (French)."""
        raise NotImplementedError

    def unchanged(self, obj, content: str) -> bool:
        """True when the record's last import had the same document and the same source configuration."""
        previous = (
            model.Session.query(HarvestObject)
            .filter(
                HarvestObject.harvest_source_id == obj.harvest_source_id,
                HarvestObject.guid == obj.guid,
                HarvestObject.current.is_(True),
            )
            .first()
        )  # noqa: E712
        return (
            previous is not None
            and previous.package_id is not None
            and self.extra(previous, "fingerprint") == fingerprint(content, obj.source.config)
        )

    # --- import ---------------------------------------------------------------------------------

    def import_stage(self, harvest_object):
        obj = harvest_object
        if self.extra(obj, "status") == WITHDRAW:
            return self._withdraw(obj)
        if not obj.content:
            self._save_object_error(f"Enregistrement {obj.guid} vide : rien à importer.", obj, "Import")
            return False
        try:
            result = self.read_record(obj)
        except ValueError as err:  # the reader's French message
            self._save_object_error(str(err), obj, "Import")
            return False
        kind, uuid, record, notes, modified = result
        return self.import_record(obj, kind, uuid, record, notes, modified)

    def read_record(self, obj):
        """(kind, uuid, record, notes, modified datetime | None) of the object's content; raises
        ValueError (French) when it cannot be a SINP record."""
        raise NotImplementedError

    def missing_parent_message(self, kind: str, uuid: str, parent: str) -> str:
        return (
            f"{KIND_LABELS[kind]} {uuid} : son cadre d'acquisition {parent} n'est ni dans la source "
            "ni dans le catalogue ; il sera importé quand son cadre le sera."
        )

    def source_ca(self, source, config: dict) -> str | None:
        """The UUID of the CA that JDD without a known parent join (``"cadre"`` of the source
        configuration), None when the source has none."""
        return None

    def import_record(self, obj, kind, uuid, record, notes, modified):
        source = obj.source
        config = self.source_config(source)
        label = f"{KIND_LABELS[kind]} {uuid} (« {record.get('title') or 'sans titre'} »)"
        existing = queries.packages_by_uuid(model, [uuid]).get(uuid, [])
        package = existing[0] if existing else None
        if package is not None:
            sources = {
                row[0]
                for row in model.Session.query(HarvestObject.harvest_source_id)
                .filter(HarvestObject.package_id == package.id)
                .distinct()
            }
            if not sources:
                log.info("%s is a record of this catalogue: not copied from source %s", uuid, source.id)
                return "unchanged"
            if source.id not in sources:
                self._save_object_error(
                    f"{label} : déjà moissonné depuis une autre source ({', '.join(sorted(sources))}) ; "
                    "il n'est pas importé une seconde fois.",
                    obj,
                    "Import",
                )
                return False
        parent_field = "cadre" if kind == "jdd" else "meta_cadre_parent"
        parent = record.get(parent_field)
        notes = list(notes)
        if kind == "jdd" and parent and not queries.packages_by_extra(model, "sinp_uuid", parent, "ca"):
            fallback = self.source_ca(source, config)
            if not fallback:
                self._save_object_error(self.missing_parent_message(kind, uuid, parent), obj, "Import")
                return False
            record[parent_field] = fallback
            notes.append(
                f"{label} : son cadre d'acquisition {parent} (gmd:parentIdentifier) n'est ni dans la source ni "
                f"dans le catalogue ; rattaché au cadre d'acquisition de la source ({fallback})."
            )
            self._save_object_error(notes[-1], obj, INFORMATION)
        notes += writer.clean_keywords(record, label)
        user = self._get_user_name()
        context = {
            "model": model,
            "session": model.Session,
            "user": user,
            "ignore_auth": True,
            READABLE_CA_CACHE: {},
            HARVESTED_ORIGIN: True,
            INCOMPLETE_ALLOWED: not config.get("strict", False),
        }
        reappeared = package is not None and package.private and self._was_withdrawn(source.id, obj.guid)
        try:
            package_id, action = writer.write_record(
                context,
                kind,
                {k: v for k, v in record.items() if k != "resources"},
                self.owner_org(source),
                package,
                private=bool(config.get("private", False)),
                resources=record.get("resources"),
            )
            if reappeared and not config.get("private", False):
                model.Package.get(package_id).private = False
            previous = model.Session.query(HarvestObject).filter(
                HarvestObject.guid == obj.guid,
                HarvestObject.harvest_source_id == source.id,
                HarvestObject.current.is_(True),
                HarvestObject.id != obj.id,
            )  # noqa: E712
            for old in previous:
                old.current = False
            obj.package_id = package_id
            obj.current = True
            obj.metadata_modified_date = modified
            obj.extras.append(HarvestObjectExtra(key="fingerprint", value=fingerprint(obj.content, source.config)))
            index_tasks = writer.record_index(model.Session, [package_id], commit_within=SOLR_COMMIT_WITHIN_MS)
            model.Session.commit()
            if not writer.index_recorded(index_tasks):  # Solr down: the outbox indexes it later
                log.warning("%s: saved, indexing deferred (Solr unavailable)", obj.guid)
        except writer.KindChanged as err:
            model.Session.rollback()
            self._save_object_error(str(err), obj, "Import")
            return False
        except tk.ValidationError as err:
            model.Session.rollback()
            for message in self.describe(label, err):
                self._save_object_error(message, obj, "Import")
            return False
        for note in notes:
            log.info("%s: %s", obj.guid, note)
        log.info("%s %s %s from source %s", action, kind, uuid, source.id)
        return True

    @staticmethod
    def owner_org(source) -> str | None:
        """The organisation of the harvest source (a source is a dataset of type ``harvest``)."""
        package = model.Package.get(source.id)
        return package.owner_org if package is not None else None

    @staticmethod
    def describe(label: str, err) -> list[str]:
        out = []
        for field, messages in (err.error_dict or {}).items():
            for message in messages if isinstance(messages, list) else [messages]:
                out.append(f"{label} — {field} : {message}")
        return out or [f"{label} : {err}"]

    def _was_withdrawn(self, source_id: str, guid: str) -> bool:
        last = (
            model.Session.query(HarvestObject)
            .filter(
                HarvestObject.harvest_source_id == source_id,
                HarvestObject.guid == guid,
                HarvestObject.state == "COMPLETE",
            )
            .order_by(HarvestObject.import_finished.desc().nullslast())
            .first()
        )
        return last is not None and self.extra(last, "status") == WITHDRAW

    def _withdraw(self, obj):
        current = (
            model.Session.query(HarvestObject)
            .filter(
                HarvestObject.guid == obj.guid,
                HarvestObject.harvest_source_id == obj.harvest_source_id,
                HarvestObject.current.is_(True),
            )
            .all()
        )  # noqa: E712
        package_ids = {o.package_id for o in current if o.package_id}
        for old in current:
            old.current = False
        titles = []
        for package_id in package_ids:
            package = model.Package.get(package_id)
            if package is None:
                continue
            titles.append(package.title)
            if not package.private:
                tk.get_action("package_patch")(
                    {
                        "model": model,
                        "session": model.Session,
                        "user": self._get_user_name(),
                        "ignore_auth": True,
                        INCOMPLETE_ALLOWED: True,  # a harvested record may lack fields; withdrawing changes none
                    },
                    {"id": package_id, "private": True},
                )
        obj.package_id = next(iter(package_ids), None)
        obj.current = False
        model.Session.commit()
        title = f" (« {titles[0]} »)" if titles else ""
        self._save_object_error(
            f"Retiré de la source : l'enregistrement {obj.guid}{title} n'y figure plus ; "
            "la fiche a été rendue privée (elle n'est pas supprimée).",
            obj,
            "Retrait",
        )
        return True

    # ckanext-harvest's fetch_stage and gather_stage are the subclasses'
