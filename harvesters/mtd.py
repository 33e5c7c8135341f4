"""``sinp_mtd``: the CA and JDD of the INPN metadata application (MTD) into the catalogue.

Source URL: the MTD base URL (``https://inpn.mnhn.fr/mtd``, pre-production
``https://preprod-inpn.mnhn.fr/mtd``). Configuration (JSON), exactly one of:

* ``{"instance_id": "42"}`` — every CA and JDD of a platform instance
  (``GetRecordsByInstanceId``);
* ``{"user_id": "1234"}`` — the CA and JDD created by an MTD user (``GetRecordsByUserId``);
* ``{"ca_uuids": ["0F6E3B2A-…", …]}`` — these CA (``GetRecordById``) and their JDD, found in the
  JDD of ``jdd_instance_id`` or ``jdd_user_id`` when given, otherwise in the JDD of each CA's
  creator (its ``ID_CREATEUR`` additional attribute) — *the MTD has no "JDD of a CA" service*.

plus ``private`` (default false: harvested records are published) and ``timeout`` (seconds,
default 30). Gather lists the records; fetch downloads each one (``GetRecordById``); import reads
it with ``ckanext.sinp.domain.mtd`` — the mapping of ``sinp_mtd_import`` — and writes it with the
same writer, CA before their JDD.
"""

from __future__ import annotations

import datetime as dt
import logging

from ckanext.sinp.domain import model as sinp_model
from ckanext.sinp.domain import mtd
from ckanext.sinp_harvesters import base

log = logging.getLogger(__name__)

LISTING = {
    ("ca", "instance_id"): "/cadre/export/xml/GetRecordsByInstanceId?id={}",
    ("jdd", "instance_id"): "/cadre/jdd/export/xml/GetRecordsByInstanceId?id={}",
    ("ca", "user_id"): "/cadre/export/xml/GetRecordsByUserId?id={}",
    ("jdd", "user_id"): "/cadre/jdd/export/xml/GetRecordsByUserId?id={}",
}
ONE = {"ca": "/cadre/export/xml/GetRecordById?id={}", "jdd": "/cadre/jdd/export/xml/GetRecordById?id={}"}
MODES = ("instance_id", "user_id", "ca_uuids")
CREATOR_ATTRIBUTE = "ID_CREATEUR"


def _ident(value) -> bool:
    return (
        isinstance(value, (str, int))
        and not isinstance(value, bool)
        and str(value).strip() != ""
        and all(c.isalnum() or c in "-_" for c in str(value).strip())
    )


def _modified(rec: mtd.MtdRecord):
    for name in ("date_maj_mtd", "date_revision", "date_creation_mtd", "date_creation"):
        value = rec.record.get(name)
        if value:
            try:
                return dt.datetime.combine(sinp_model.parse_date(value), dt.time())
            except ValueError:
                continue
    return None


def _attribute(rec: mtd.MtdRecord, name: str) -> str | None:
    for item in sinp_model.as_list(rec.record.get("attributs_additionnels")):
        if isinstance(item, dict) and str(item.get("nom", "")).strip().upper() == name:
            return str(item.get("valeur", "")).strip() or None
    return None


class SinpMtdHarvester(base.SinpHarvester):
    config_keys = {"instance_id", "user_id", "ca_uuids", "jdd_instance_id", "jdd_user_id"}

    def info(self):
        return {
            "name": "sinp_mtd",
            "title": "INPN – application de métadonnées (MTD)",
            "description": "Cadres d'acquisition et jeux de données déclarés dans l'application MTD de l'INPN "
            "(par instance de plateforme, utilisateur ou liste de cadres).",
        }

    def check_config(self, config):
        messages = []
        modes = [m for m in MODES if m in config]
        if len(modes) != 1:
            messages.append(
                "Indiquez exactement une des clés « instance_id » (instance de plateforme), "
                "« user_id » (utilisateur MTD) ou « ca_uuids » (liste d'UUID de cadres d'acquisition)."
            )
        for key in ("instance_id", "user_id", "jdd_instance_id", "jdd_user_id"):
            if key in config and not _ident(config[key]):
                messages.append(f"« {key} » doit être un identifiant (chiffres, lettres, « - », « _ »).")
        if "ca_uuids" in config:
            uuids = config["ca_uuids"]
            if not isinstance(uuids, list) or not uuids:
                messages.append("« ca_uuids » doit être une liste non vide d'UUID.")
            else:
                bad = [str(u) for u in uuids if not isinstance(u, str) or not sinp_model.UUID_RE.match(u.strip())]
                if bad:
                    messages.append(f"« ca_uuids » : {', '.join(bad)} n'est pas un UUID.")
        elif "jdd_instance_id" in config or "jdd_user_id" in config:
            messages.append("« jdd_instance_id » et « jdd_user_id » ne s'emploient qu'avec « ca_uuids ».")
        return messages

    def get_original_url(self, harvest_object_id):
        obj = base.HarvestObject.get(harvest_object_id)
        if obj is None:
            return None
        kind = self.extra(obj, "kind") or "jdd"
        return obj.source.url.rstrip("/") + ONE[kind].format(obj.guid)

    # --- gather ---------------------------------------------------------------------------------

    def _list(self, session, url: str, path: str, timeout: float, what: str) -> list[mtd.MtdRecord]:
        content = base.http_get(session, url + path, timeout, what)
        try:
            return mtd.parse_document(content)
        except mtd.MtdError as err:
            if "Aucun cadre d'acquisition ni jeu de données" in str(err):
                return []
            raise base.RemoteError(f"{what} : réponse illisible — {err}") from None

    def gather_stage(self, harvest_job):
        source = harvest_job.source
        config = self.source_config(source)
        url = source.url.rstrip("/")
        timeout = self.timeout(config)
        session = base.new_session()
        try:
            listed = self._gather_records(session, url, config, timeout)
        except base.RemoteError as err:
            self._save_gather_error(f"{err} Rien n'a été importé ni retiré.", harvest_job)
            return None
        finally:
            session.close()
        current = self.current_objects(source.id)
        ordered = mtd.ordered(listed)
        ids, seen = [], set()
        for rec in ordered:
            if rec.uuid in seen:
                continue
            seen.add(rec.uuid)
            ids.append(self.new_object(harvest_job, rec.uuid, kind=rec.kind))
        ids += self.withdraw_missing(
            harvest_job, current, seen, complete=True, empty_message="L'application MTD ne liste aucun enregistrement"
        )
        log.info("MTD source %s: %d records listed, %d objects", source.id, len(seen), len(ids))
        return ids

    def _gather_records(self, session, url, config, timeout) -> list[mtd.MtdRecord]:
        for mode in ("instance_id", "user_id"):
            if mode in config:
                ident = str(config[mode]).strip()
                cas = self._list(
                    session, url, LISTING[("ca", mode)].format(ident), timeout, "Liste des cadres d'acquisition"
                )
                jdds = self._list(
                    session, url, LISTING[("jdd", mode)].format(ident), timeout, "Liste des jeux de données"
                )
                return [r for r in cas if r.kind == "ca"] + [r for r in jdds if r.kind == "jdd"]
        wanted = [mtd.normalize_uuid(u) for u in config.get("ca_uuids", [])]
        cas = []
        for uuid in wanted:
            found = [
                r
                for r in self._list(session, url, ONE["ca"].format(uuid), timeout, f"Cadre d'acquisition {uuid}")
                if r.kind == "ca" and r.uuid == uuid
            ]
            cas += found
        jdd_listings = []
        if "jdd_instance_id" in config:
            jdd_listings.append(LISTING[("jdd", "instance_id")].format(str(config["jdd_instance_id"]).strip()))
        elif "jdd_user_id" in config:
            jdd_listings.append(LISTING[("jdd", "user_id")].format(str(config["jdd_user_id"]).strip()))
        else:
            creators = sorted({c for c in (_attribute(r, CREATOR_ATTRIBUTE) for r in cas) if c and _ident(c)})
            jdd_listings += [LISTING[("jdd", "user_id")].format(c) for c in creators]
        jdds = []
        for path in jdd_listings:
            jdds += [
                r
                for r in self._list(session, url, path, timeout, "Liste des jeux de données")
                if r.kind == "jdd" and mtd.normalize_uuid(r.record.get("cadre", "")) in wanted
            ]
        return cas + jdds

    # --- fetch ----------------------------------------------------------------------------------

    def download(self, session, obj, timeout):
        kind = self.extra(obj, "kind") or "jdd"
        url = obj.source.url.rstrip("/") + ONE[kind].format(obj.guid.upper())
        content = base.http_get(session, url, timeout, f"{base.KIND_LABELS[kind]} {obj.guid}")
        return content.decode("utf-8", errors="replace")

    # --- import ---------------------------------------------------------------------------------

    def read_record(self, obj):
        try:
            found = mtd.parse_document(obj.content.encode("utf-8"))
        except mtd.MtdError as err:
            raise ValueError(f"Enregistrement {obj.guid} : {err}") from None
        records = [r for r in found if r.uuid == mtd.normalize_uuid(obj.guid)]
        if not records:
            raise ValueError(
                f"Enregistrement {obj.guid} : l'application MTD ne le renvoie plus (réponse sans cet identifiant)."
            )
        rec = records[0]
        messages = mtd.validate_records([rec])
        if messages:
            raise ValueError(" ".join(messages))
        return rec.kind, rec.uuid, rec.record, [], _modified(rec)
