"""Writing one SINP record (CA or JDD) into the catalogue: the one path shared by the MTD import
and the harvesters (MTD, CSW), so a record is created and updated the same way whatever brought it.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata

import ckan.lib.search as search
import ckan.model as model
import ckan.plugins as plugins
import ckan.plugins.toolkit as tk
from ckan import logic
from ckan.lib.plugins import get_permission_labels
from ckan.lib.search import common
from ckan.lib.search import index as search_index

from ckanext.sinp.domain import model as sinp_model
from ckanext.sinp.outbox import runner

KIND_LABELS = {"ca": "cadre d'acquisition", "jdd": "jeu de données"}


class KindChanged(ValueError):
    """The record exists in the catalogue with the other type (French message)."""


def slug(title: str, uuid: str) -> str:
    text = unicodedata.normalize("NFKD", title or "").encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:60].strip("-") or "fiche"
    return f"{text}-{uuid[:8].lower()}"


def release_savepoints(model) -> None:
    """With ``defer_commit``, CKAN's actions leave their SAVEPOINTs open; release them, or a
    document of a thousand records nests a thousand savepoints."""
    session = model.Session()
    while (nested := session.get_nested_transaction()) is not None:
        nested.commit()


def write_record(
    context: dict,
    kind: str,
    record: dict,
    owner_org: str,
    existing=None,
    private: bool = True,
    extras: dict | None = None,
    resources: list | None = None,
) -> tuple[str, str]:
    """Creates or updates the package of ``record`` (the fields of the standard, as read by
    ``domain.mtd`` or ``domain.iso_read``); returns (package id, "created" | "updated").

    ``existing``: the package holding the record's UUID (``model.Package``) or None. On update the
    record is the reference for every field of the standard; what the platform adds (resources,
    licence, publication state, owner) is kept. On creation the package belongs to ``owner_org`` and
    is private unless ``private`` is False. ``extras``: other package keys to set (e.g. a licence).
    ``resources`` ([{"url", "name", "format", "description"}]): links the record's source gives; on
    update those whose URL the package lacks are added, the package's own resources are kept.
    Does not commit (``defer_commit``): the caller commits, so a failing record leaves nothing.
    Raises tk.ValidationError (CKAN's validation) or KindChanged.
    """
    model = context["model"]
    write_context = {**context, "defer_commit": True, "return_id_only": True}
    if existing is not None:
        if existing.type != kind:
            raise KindChanged(
                f"{record.get('sinp_uuid')} est déjà un {KIND_LABELS.get(existing.type, existing.type)} "
                "du catalogue : un enregistrement ne change pas de type."
            )
        current = tk.get_action("package_show")(
            {"model": model, "session": model.Session, "ignore_auth": True, "for_update": True}, {"id": existing.id}
        )
        for f in sinp_model.fields(kind):
            current.pop(f.name, None)
        current.pop("tags", None)
        if resources:
            known = {r.get("url") for r in current.get("resources", [])}
            current["resources"] = current.get("resources", []) + [
                r for r in resources if r.get("url") and r["url"] not in known
            ]
        data = {
            **current,
            **record,
            **(extras or {}),
            "id": existing.id,
            "name": existing.name,
            "owner_org": existing.owner_org,
            "private": existing.private,
        }
        result = tk.get_action("package_update")(write_context, data)
        action = "updated"
    else:
        data = {
            **record,
            **(extras or {}),
            **({"resources": list(resources)} if resources else {}),
            "name": slug(record.get("title", ""), record["sinp_uuid"]),
            "owner_org": owner_org,
            "private": private,
        }
        with _activity_deferred():
            result = tk.get_action("package_create")(write_context, data)
        action = "created"
    release_savepoints(model)
    package_id = result if isinstance(result, str) else result["id"]
    _prepare(context, package_id, "new" if action == "created" else None)
    return package_id, action


# --- one dictization per record written ----------------------------------------------------------
#
# Stock CKAN dictizes a package twice after ``package_create``: ckanext-activity's receiver calls
# ``package_show`` (which first asks Solr for a copy of a package that is not indexed yet), and the
# indexer calls it again after the commit. ``write_record`` dictizes the package once, in the
# transaction of the write, the way the indexer does (``package_show_default_and_custom_schemas``):
# the activity is created from that dict (what the activity's own ``package_show`` returns) and the
# indexer reuses it after the commit, when the package is still the one that was dictized.

_ACTIVITY_RECEIVERS = {"package_create": "package_changed"}
# the dicts of the packages written, kept with the session (a request, a harvest object, a job):
# gone with it, whatever was committed or rolled back
PREPARED = "sinp_prepared_packages"


def _prepared_dicts() -> dict:
    return model.Session().info.setdefault(PREPARED, {})


@contextlib.contextmanager
def _activity_deferred():
    """ckanext-activity's receiver of ``package_create`` is off during the call (a process serves
    one request or job at a time): ``_prepare`` creates the same activity from its own dictization."""
    if not plugins.plugin_loaded("activity"):
        yield
        return
    from ckanext.activity import subscriptions  # optional plugin

    signal = tk.signals.action_succeeded
    receivers = [(sender, getattr(subscriptions, name)) for sender, name in _ACTIVITY_RECEIVERS.items()]
    for sender, receiver in receivers:
        signal.disconnect(receiver, sender=sender)
    try:
        yield
    finally:
        for sender, receiver in receivers:
            signal.connect(receiver, sender=sender)


def _state(pkg) -> tuple:
    return (pkg.metadata_modified, pkg.private, pkg.state, pkg.owner_org)


def _prepare(context: dict, package_id: str, activity_type: str | None) -> None:
    pkg = model.Package.get(package_id)
    both = logic.package_show_default_and_custom_schemas({"ignore_auth": True}, package_id)
    if activity_type and plugins.plugin_loaded("activity"):
        user = model.User.get(context.get("user") or "")
        if user is None:
            raise tk.ValidationError({"user_id": ["User not found"]})
        tk.get_action("activity_create")(
            {**logic.fresh_context(context), "ignore_auth": True, "defer_commit": True},
            {
                "user_id": user.id,
                "object_id": package_id,
                "activity_type": f"{activity_type} package",
                "data": {"package": both[1], "actor": user.name},
                "permission_labels": get_permission_labels().get_dataset_labels(pkg),
            },
        )
    _prepared_dicts()[package_id] = (_state(pkg), both)


def _prepared(package_id: str):
    """The dicts ``_prepare`` made of the package, if it is still what was dictized; used once."""
    entry = _prepared_dicts().pop(package_id, None)
    if entry is None:
        return None
    pkg = model.Package.get(package_id)
    return entry[1] if pkg is not None and _state(pkg) == entry[0] else None


_TAG_FORBIDDEN = re.compile(r"[^\w \-.]", re.UNICODE)


def clean_keywords(record: dict, label: str) -> list[str]:
    """CKAN tags allow letters, digits, spaces, « - », « _ » and « . »: other characters of
    keywords (e.g. the apostrophe of « Côte-d'Or ») become spaces in ``record["tag_string"]``;
    returns the French notes of what changed (``label`` names the record)."""
    raw = record.get("tag_string")
    if not raw:
        return []
    keywords = raw if isinstance(raw, list) else [k for k in str(raw).split(",")]
    cleaned, notes = [], []
    for keyword in keywords:
        fixed = re.sub(r"\s+", " ", _TAG_FORBIDDEN.sub(" ", keyword)).strip()
        if fixed != keyword.strip():
            notes.append(f"{label} : mot-clé « {keyword} » enregistré comme « {fixed} ».")
        if len(fixed) >= 2:
            cleaned.append(fixed)
    record["tag_string"] = ",".join(cleaned)
    return notes


def index_packages(package_ids: list[str], batch: int = 250, commit_within: int | None = None) -> None:
    """Indexes packages after the commit of records written with ``defer_commit``, with CKAN's own
    indexer, but sends Solr one request per ``batch`` documents instead of one per package (the indexer's connection is swapped for a collector meanwhile;
    a CKAN process serves one request at a time). ``commit_within`` (milliseconds): let Solr commit
    within that delay instead of an explicit commit now (a hard commit costs ~30 ms; a harvester
    writing one record at a time would pay it for each record)."""

    collected = []

    class _Collector:
        def add(self, docs=(), commit=False, **kwargs):
            collected.extend(docs)

        def delete(self, *args, **kwargs):  # a deleted package is removed by its own action
            pass

    real = search_index.make_connection
    search_index.make_connection = lambda *args, **kwargs: _Collector()
    try:
        rest = []
        for package_id in package_ids:
            both = _prepared(package_id)
            if both is None:
                rest.append(package_id)
            else:  # what ``search.rebuild`` does with the dicts of its own package_show
                logic.index_update_package_dicts(both, True)
        if rest:
            search.rebuild(package_ids=rest, defer_commit=True, quiet=True)
    finally:
        search_index.make_connection = real
    conn = common.make_connection()
    extra = {"commitWithin": str(commit_within)} if commit_within else {}
    for start in range(0, len(collected), batch):
        conn.add(docs=collected[start : start + batch], commit=False, **extra)
    if not commit_within:
        conn.commit()


# --- indexing that survives a Solr outage --------------------------------------------------------

INDEX_TASK = "index"


def record_index(session, package_ids: list[str], commit_within: int | None = None) -> list[int]:
    """Records, in ``session``'s transaction (before its commit), that ``package_ids`` must be
    indexed: if Solr fails after the commit, the outbox indexes them once it is back, and the
    records written are neither lost nor missing from search for good."""
    return record_index_in(session.connection(), package_ids, commit_within)


def record_index_in(conn, package_ids: list[str], commit_within: int | None = None) -> list[int]:
    """``record_index`` in the transaction of a plain connection (writes made outside the session)."""
    args = {"commit_within": commit_within} if commit_within else {}
    return [runner.add(conn, INDEX_TASK, package_id, args) for package_id in dict.fromkeys(package_ids)]


def index_recorded(task_ids: list[int]) -> bool:
    """Indexes now what ``record_index`` recorded (after the commit). False when Solr failed: the
    outbox retries, the caller answers success and may say that search will follow shortly."""
    return runner.run_inline(task_ids)["failed"] == 0


def _run_index(items: list[tuple[str, dict]]) -> None:
    within = [args.get("commit_within") for _key, args in items]
    ids = [key for key, _args in items]
    existing = {r[0] for r in model.Session.query(model.Package.id).filter(model.Package.id.in_(ids))}
    ids = [i for i in ids if i in existing]  # purged since: nothing to index (its removal is the purge's)
    if ids:
        index_packages(ids, commit_within=max(within) if all(within) else None)


def register_tasks() -> None:
    runner.register(runner.Task(INDEX_TASK, _run_index, "Indexation de fiches", batch=250))
