"""Our French message catalogue (ckanext-sinp/ckanext/sinp/i18n): what the French catalogues of CKAN 2.12
and of its extensions lack. The .mo is not in git: setup.py's build_py (run by `pip install` and
`pip install -e`) compiles it with i18n/msgfmt.py; test_packaging checks that the wheel carries it."""

from __future__ import annotations

import gettext
import pathlib
import re
import shutil

from babel.messages.pofile import read_po

from ckanext.sinp.i18n import msgfmt

PO = msgfmt.HERE / "fr" / "LC_MESSAGES" / "ckanext-sinp.po"
PLACEHOLDER = re.compile(r"%\(\w+\)[sdr]|%[sdr]|\{\w*\}")


def catalogue():
    with PO.open("rb") as f:
        return read_po(f, locale="fr")


def test_every_translation_keeps_the_placeholders_of_its_message():
    # a placeholder the message does not have (« {jeu} ») is a KeyError, hence a 500, on the French page
    cat = catalogue()
    assert len(cat) > 400
    for message in cat:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"untranslated: {ids[0]!r}"
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        for string in strings:  # one it does not know; leaving one out (« 1 fiche ») is harmless
            assert set(PLACEHOLDER.findall(string)) <= wanted, f"{ids[0]!r} → {string!r}"


def test_the_compiled_catalogue_says_what_the_po_says(tmp_path: pathlib.Path):
    (tmp_path / "fr" / "LC_MESSAGES").mkdir(parents=True)
    shutil.copy(PO, tmp_path / "fr" / "LC_MESSAGES" / PO.name)
    (mo,) = msgfmt.compile_catalogues(tmp_path)
    with mo.open("rb") as f:
        compiled = gettext.GNUTranslations(f)
    assert compiled.info()["plural-forms"] == "nplurals=2; plural=(n > 1);"
    messages = [m for m in catalogue() if m.id]
    for message in messages:
        if isinstance(message.id, tuple):
            assert compiled.ngettext(*message.id, 1) == message.string[0]
            assert compiled.ngettext(*message.id, 2) == message.string[1]
        else:
            assert compiled.gettext(message.id) == message.string
    assert len(compiled._catalog) == len(messages) + 1 + sum(isinstance(m.id, tuple) for m in messages)  # + header
    assert compiled.gettext("Skip to main content") == "Aller au contenu principal"


def test_the_javascript_messages_have_their_french():
    # CKAN's /api/i18n/fr carries the messages that a .pot places in a .js file (build_js_translations)
    with (msgfmt.HERE / "ckanext-sinp.pot").open("rb") as f:
        pot = [m for m in read_po(f) if m.id]
    assert {"Please Confirm", "Draw an extent"} <= {m.id for m in pot}
    assert all(m.locations and m.locations[0][0].endswith(".js") for m in pot)
    cat = catalogue()
    assert all(cat.get(m.id) is not None and cat.get(m.id).string for m in pot)
