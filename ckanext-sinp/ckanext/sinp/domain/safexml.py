"""Reading untrusted XML safely: size limit, no DTD, no entity, no network. Pure Python.

    root = safexml.parse(data, max_bytes=50 * 2**20, label="MTD")   # raises XmlRefused (French)

Used by the MTD reader and the ISO 19139 reader (harvesters): a document that declares a DTD or
an entity is refused before parsing (billion laughs, external entities), whatever its encoding
(UTF-8/16/32, with or without BOM); lxml never loads a DTD nor reaches the network.
"""

from __future__ import annotations

import codecs
import re

from lxml import etree


class XmlRefused(ValueError):
    """A document that cannot be read; the message is meant for the user (French)."""


_DTD_RE = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_DTD_RE_BYTES = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
PARSER_OPTIONS = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
    collect_ids=False,
)


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.3g}".replace(".", ",")


def _as_bytes(data, max_bytes: int) -> tuple[bytes, str | None]:
    if isinstance(data, str):
        if len(data) > max_bytes:  # a character is at least one byte
            raise XmlRefused(f"Le document dépasse {_mb(max_bytes)} Mo.")
        raw, encoding = data.encode("utf-8", errors="replace"), "utf-8"
    elif isinstance(data, (bytes, bytearray, memoryview)):
        raw, encoding = bytes(data), None
    else:
        raise XmlRefused("Document illisible : le contenu XML est attendu (texte ou octets).")
    if len(raw) > max_bytes:
        raise XmlRefused(f"Le document dépasse {_mb(max_bytes)} Mo ({_mb(len(raw))} Mo).")
    if not raw.strip():
        raise XmlRefused("Le document est vide.")
    return raw, encoding


def _scan_text(raw: bytes) -> str | None:
    """The document as text when it is in a UTF-16/32 encoding (None: ASCII-compatible)."""
    head = raw[:4]
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        encoding = "utf-32"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = {b"\x00\x00\x00<": "utf-32-be", b"<\x00\x00\x00": "utf-32-le"}.get(head)
        if encoding is None:
            encoding = {b"\x00<": "utf-16-be", b"<\x00": "utf-16-le"}.get(head[:2])
    return raw.decode(encoding, errors="replace") if encoding else None


def _refuse_dtd(raw: bytes, label: str) -> None:
    text = _scan_text(raw)
    match = _DTD_RE_BYTES.search(raw) if text is None else _DTD_RE.search(text)
    if match:
        name = match.group(1)
        name = (name.decode("ascii") if isinstance(name, bytes) else name).upper()
        raise XmlRefused(
            f"Document refusé : il contient une déclaration <!{name}> "
            f"(DTD ou entité), interdite dans un document {label} pour des raisons de sécurité."
        )


def _parse_xml(raw: bytes, encoding: str | None, label: str):
    parser = etree.XMLParser(encoding=encoding, **PARSER_OPTIONS)
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as err:
        line = err.lineno or (err.position[0] if err.position else "?")
        column = err.position[1] if err.position else "?"
        # libxml2's own message is English: the place of the error is what the user needs
        raise XmlRefused(
            f"XML mal formé, ligne {line} : le document n'est pas du XML bien formé (vers la "
            f"colonne {column} : balise non fermée, caractère interdit, texte hors de l'élément "
            "racine…)."
        ) from None
    except (ValueError, LookupError):  # e.g. an unknown encoding
        raise XmlRefused("XML illisible : encodage inconnu ou document qui n'est pas du texte XML.") from None
    if root is None:
        raise XmlRefused("XML mal formé, ligne 1 : document vide.")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlRefused(
            "Document refusé : il contient une déclaration <!DOCTYPE> (DTD), interdite "
            f"dans un document {label} pour des raisons de sécurité."
        )
    return root


def parse(data, max_bytes: int, label: str = "XML"):
    """The root element of ``data`` (str or bytes). Raises XmlRefused (French message) for a
    document that is empty, too large, declares a DTD or entities, or is not well-formed.
    ``label`` names the kind of document in messages (« document MTD »)."""
    raw, encoding = _as_bytes(data, max_bytes)
    _refuse_dtd(raw, label)
    return _parse_xml(raw, encoding, label)
