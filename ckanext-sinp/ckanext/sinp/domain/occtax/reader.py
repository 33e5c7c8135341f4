"""First look at a deposited file: size, binary content, encoding, separator, header (rules C1, C2).

One streaming pass computes the SHA-256 and checks UTF-8; a file that is not UTF-8 is read as
Windows-1252 (what spreadsheet software writes in France; Latin-1 when a byte is undefined in
Windows-1252) and transcoded to a temporary UTF-8 copy, so that the engine always reads UTF-8.
"""

from __future__ import annotations

import codecs
import concurrent.futures
import csv
import dataclasses
import hashlib
import io
import os
import pathlib

from ckanext.sinp.domain.occtax import columns as cols

CHUNK = 8 * 1024 * 1024
DELIMITERS = (";", ",", "\t", "|")
DELIMITER_NAMES = {";": "point-virgule", ",": "virgule", "\t": "tabulation", "|": "barre verticale"}
ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "cp1252": "Windows-1252 (Latin-1)",
    "latin-1": "ISO-8859-1 (Latin-1)",
    "utf-16": "UTF-16",
}


@dataclasses.dataclass
class FileIssue:
    code: str  # C1 | C2
    detail: str
    column: str | None = None
    value: str | None = None


@dataclasses.dataclass
class FileInfo:
    path: pathlib.Path
    name: str
    size: int
    sha256: str = ""
    encoding: str = ""
    delimiter: str = ""
    header: list = dataclasses.field(default_factory=list)  # as written in the file
    columns: list = dataclasses.field(default_factory=list)  # canonical names, file order (None: unknown)
    utf8_path: pathlib.Path | None = None
    issues: list = dataclasses.field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.issues

    def describe(self) -> dict:
        return {
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
            "encoding": ENCODING_NAMES.get(self.encoding, self.encoding) if self.encoding else None,
            "delimiter": DELIMITER_NAMES.get(self.delimiter) if self.delimiter else None,
            "columns": [c for c in self.columns if c],
        }


def _human(size: int) -> str:
    for unit in ("o", "Ko", "Mo", "Go"):
        if size < 1024 or unit == "Go":
            return f"{size:.0f} {unit}" if unit == "o" else f"{size:.1f} {unit}".replace(".", ",")
        size /= 1024
    return str(size)


def _looks_binary(head: bytes) -> str | None:
    if head.startswith(b"PK\x03\x04"):
        return (
            "Le fichier est une archive ZIP ou un classeur (xlsx, ods) : enregistrez la feuille au format "
            "CSV (séparateur point-virgule, encodage UTF-8)."
        )
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "Le fichier est un classeur Excel (xls) : enregistrez la feuille au format CSV."
    if head.startswith(b"%PDF"):
        return "Le fichier est un PDF, pas un fichier CSV."
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None  # UTF-16 with BOM: transcoded
    if b"\x00" in head:
        return "Le fichier contient des octets nuls : ce n'est pas un fichier texte CSV."
    return None


def _scan(path: pathlib.Path) -> tuple[str, str]:
    """(sha256, encoding) in one pass: each chunk is hashed in a second thread (hashlib releases
    the GIL) while this one checks it is UTF-8."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    with open(path, "rb") as fh, concurrent.futures.ThreadPoolExecutor(1) as hasher:
        first = True
        hashed = None
        while chunk := fh.read(CHUNK):
            if hashed is not None:
                hashed.result()
            hashed = hasher.submit(digest.update, chunk)
            if first and chunk.startswith((b"\xff\xfe", b"\xfe\xff")):
                utf8 = False
                encoding = "utf-16"
            first = False
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
                    encoding = "cp1252"
        if hashed is not None:
            hashed.result()
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8, encoding = False, "cp1252"
    if utf8:
        return digest.hexdigest(), "utf-8"
    if encoding == "cp1252":
        with open(path, "rb") as fh:
            dec = codecs.getincrementaldecoder("cp1252")()
            try:
                while chunk := fh.read(CHUNK):
                    dec.decode(chunk)
            except UnicodeDecodeError:
                encoding = "latin-1"
    return digest.hexdigest(), encoding


def _transcode(path: pathlib.Path, encoding: str, target: pathlib.Path) -> None:
    with open(path, "rb") as src, open(target, "wb") as dst:
        dec = codecs.getincrementaldecoder(encoding)()
        while chunk := src.read(CHUNK):
            dst.write(dec.decode(chunk).encode("utf-8"))
        dst.write(dec.decode(b"", final=True).encode("utf-8"))


def _header_line(path: pathlib.Path) -> str:
    with open(path, encoding="utf-8", newline="") as fh:
        line = fh.readline(1024 * 1024)
    return line.lstrip("\ufeff").rstrip("\r\n")


def _split(line: str, delimiter: str) -> list[str]:
    return next(csv.reader(io.StringIO(line), delimiter=delimiter, quotechar='"'), [])


def detect_delimiter(line: str) -> str:
    """The candidate that splits the header into the most known columns (then the most fields)."""

    def score(d):
        fields = _split(line, d)
        return (sum(1 for f in fields if cols.canonical(f)), len(fields))

    return max(DELIMITERS, key=score)


def inspect(path, workdir, name: str | None = None, max_bytes: int | None = None) -> FileInfo:
    """Everything known about ``path`` before reading its rows; ``issues`` stop the deposit."""
    path = pathlib.Path(path)
    info = FileInfo(path=path, name=name or path.name, size=os.path.getsize(path))
    if info.size == 0:
        info.issues.append(FileIssue("C1", "Le fichier est vide."))
        return info
    if max_bytes and info.size > max_bytes:
        info.issues.append(
            FileIssue(
                "C1",
                f"Le fichier pèse {_human(info.size)} : la limite d'un dépôt est "
                f"{_human(max_bytes)}. Découpez-le en plusieurs fichiers.",
            )
        )
        return info
    with open(path, "rb") as fh:
        head = fh.read(65536)
    binary = _looks_binary(head)
    if binary:
        info.issues.append(FileIssue("C1", binary))
        return info
    info.sha256, info.encoding = _scan(path)
    if info.encoding == "utf-8":
        info.utf8_path = path
    else:
        info.utf8_path = pathlib.Path(workdir) / "depot-utf8.csv"
        _transcode(path, info.encoding, info.utf8_path)
    _read_header(info)
    return info


REQUIRED_MESSAGE = "Colonne obligatoire absente : {name} ({label})."


def _read_header(info: FileInfo) -> None:
    line = _header_line(info.utf8_path)
    if not line.strip():
        info.issues.append(FileIssue("C2", "La première ligne (l'en-tête des colonnes) est vide."))
        return
    info.delimiter = detect_delimiter(line)
    info.header = _split(line, info.delimiter)
    info.columns = [cols.canonical(h) for h in info.header]
    known = [c for c in info.columns if c]
    if len(info.header) == 1 and not known:
        info.issues.append(
            FileIssue(
                "C2",
                "Une seule colonne lue dans l'en-tête : le séparateur doit être le point-virgule « ; », la "
                "virgule « , » ou la tabulation, et la première ligne doit donner les noms de colonnes.",
            )
        )
        return
    seen: dict[str, str] = {}
    for raw, canonical in zip(info.header, info.columns):
        if not raw.strip():
            info.issues.append(FileIssue("C2", "Une colonne de l'en-tête n'a pas de nom."))
        elif canonical is None:
            info.issues.append(
                FileIssue(
                    "C2",
                    f"Colonne inconnue : « {raw} ». Les noms admis sont ceux du modèle de "
                    "dépôt (standard Occurrences de taxons v2.0 ou noms courts DEPOBIO).",
                    column=raw,
                    value=raw,
                )
            )
        elif canonical in seen:
            info.issues.append(
                FileIssue(
                    "C2",
                    f"La colonne {canonical} apparaît deux fois (« {seen[canonical]} » et « {raw} »).",
                    column=canonical,
                    value=raw,
                )
            )
        else:
            seen[canonical] = raw
    for col in cols.columns():
        if not col.required or col.name in seen:
            continue
        if col.composed_from and col.composed_from["identity"] in seen:
            continue
        info.issues.append(FileIssue("C2", REQUIRED_MESSAGE.format(name=col.name, label=col.label), column=col.name))
