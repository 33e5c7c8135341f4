"""Which stored reading of a JDD's figures and map a caller gets (occurrences/aggregates.py): exactly
the one the store's rights decision (``store.blurred`` with ``Access``) gives it, or none (live)."""

from __future__ import annotations

import pytest

from ckanext.sinp.domain import protection
from ckanext.sinp.occurrences import aggregates
from ckanext.sinp.occurrences.store import Access

JDD, PRODUCER, OTHER = "jdd-1", "org-producer", "org-other"
MAMMALS = protection.Scope(groupes=("Mammifères",), departements=("21",))


@pytest.mark.parametrize(
    ("access", "owners", "expected"),
    [
        (Access(full=True), [PRODUCER], aggregates.FULL),  # sysadmin
        (Access(orgs=[PRODUCER], public_package_ids=[JDD]), [PRODUCER], aggregates.FULL),  # producer's member
        (Access(orgs=[PRODUCER]), [PRODUCER], aggregates.FULL),  # a draft, read by its producer
        (Access(orgs=[OTHER], public_package_ids=[JDD]), [PRODUCER], aggregates.PUBLIC),  # another producer
        (Access(public_package_ids=[JDD]), [PRODUCER], aggregates.PUBLIC),  # anonymous, published
        (Access(), [PRODUCER], None),  # not published: nothing stored is served
        (Access(orgs=[PRODUCER], public_package_ids=[JDD]), [PRODUCER, OTHER], None),  # part of the producers
    ],
)
def test_the_reading_follows_the_rights_decision(access, owners, expected):
    assert aggregates.summary_viewer(access, JDD, owners) == expected


def test_a_chef_de_file_whose_scope_covers_the_jdd_is_computed_live():
    access = Access(scopes=[MAMMALS], public_package_ids=[JDD], scope_package_ids=[JDD])
    assert aggregates.summary_viewer(access, JDD, [PRODUCER]) is None
    # a chef de file elsewhere reads the published JDD as the public does
    elsewhere = Access(scopes=[MAMMALS], public_package_ids=[JDD], scope_package_ids=["jdd-2"])
    assert aggregates.summary_viewer(elsewhere, JDD, [PRODUCER]) == aggregates.PUBLIC
