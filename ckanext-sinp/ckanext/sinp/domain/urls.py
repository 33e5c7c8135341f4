"""Which link URLs the catalogue stores and publishes (pure: no CKAN import).

A resource given as a link is published as is in the record page, ISO 19139 (CSW) and DCAT, and
downstream catalogues render it as a link: only the schemes of ``ckanext.sinp.resource_url_schemes``
(default ``http https ftp``) are accepted, written ``scheme://host…`` without control characters
(browsers ignore tabs and line breaks inside ``java\tscript:``).
"""

from __future__ import annotations

import re

DEFAULT_SCHEMES = ("http", "https", "ftp")
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://[^\s/?#]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_schemes(text: str | None) -> tuple[str, ...]:
    """``"http https ftp"`` -> ("http", "https", "ftp"); empty or None: the default."""
    schemes = tuple(s.lower().rstrip(":") for s in str(text or "").replace(",", " ").split())
    return schemes or DEFAULT_SCHEMES


def link_allowed(url, schemes=DEFAULT_SCHEMES) -> bool:
    """True for ``scheme://host…`` with one of ``schemes`` and no whitespace or control character."""
    if not isinstance(url, str) or _CONTROL.search(url.strip()):
        return False
    match = _URL.match(url.strip())
    return match is not None and match.group(1).lower() in schemes


def refusal(url, schemes=DEFAULT_SCHEMES) -> str:
    """The French message of a refused link."""
    accepted = ", ".join(f"{s}://" for s in schemes)
    return (
        f"Lien refusé : l'adresse d'une ressource commence par {accepted} suivi du nom du serveur "
        "(par exemple https://www.exemple.fr/donnees.csv) ; pour un fichier, téléversez-le."
    )
