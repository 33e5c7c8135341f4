"""Wildcard searches of the SINP CSW: ``PropertyIsLike`` on AnyText, Title and Abstract (pycsw 2.6.2).

Why it is needed: as soon as the full-text index exists, pycsw 2.6.2 turns *every* comparison on
csw:AnyText into ``plainto_tsquery('french', <literal>) @@ anytext_tsvector``: the wildcards are
dropped and ``chiropt`` or ``odon`` are not French words, so ``%chiropt%`` or ``odon%`` found
nothing, while stock pycsw (no full-text index) finds substrings. On dc:title / dct:abstract it ran
a case- and accent-sensitive ``LIKE`` and ignored the filter's ``escapeChar``.

What this module changes, in front of pycsw's own translation of OGC Filter 1.x (``fes1.parse``:
CSW 2.0.2 ogc:Filter by POST or GET, ``CQL_TEXT`` by GET or POST, which pycsw converts to a
Filter first):

- a ``PropertyIsLike`` on AnyText whose literal holds a wildcard (the filter's own ``wildCard``
  / ``singleChar``, ``%`` / ``_`` when absent — CQL) is a substring search, as in stock pycsw
  (the pattern is padded with ``%`` on both sides): ``%chiropt%``, ``odon%``, ``chiropt*`` with
  ``wildCard="*"``, ``chiropt_res``;
- a ``PropertyIsLike`` on Title or Abstract honours the pattern as written over the whole value
  (``odon%``: a title that starts with « Odon »), with or without wildcards;
- both compare lower-cased, unaccented text: the generated columns named in
  ``mappings.FOLDED_COLUMNS`` (``FOLD_FUNCTION(column)``, trigram GIN indexes: see
  ``ckanext/sinp/csw/repository.py``) against ``FOLD_FUNCTION(pattern)``, the same SQL function on
  both sides (« chiropteres » finds « Chiroptères »). ``matchCase="true"`` on Title or Abstract
  keeps a case- and accent-sensitive ``LIKE`` on the stored column;
- ``escapeChar`` (``\\`` when absent) makes the next character literal; every other literal
  character that is not a letter or a digit is escaped in the SQL pattern (unaccent turns « ％ »
  into « % »: a literal stays literal after folding);
- a plain word on AnyText (no wildcard) is left to pycsw: full-text search on the index.

The pattern only ever reaches PostgreSQL as a bound value. A literal longer than
``MAX_PATTERN_CHARS`` or holding a NUL character is refused with a French message (pycsw answers
an OWS ExceptionReport). Any other ``PropertyIsLike`` (other properties, ``ogc:Function``) and the
other operators go through pycsw unchanged.

Plain Python + lxml elements: no pycsw import here (``install`` receives pycsw's module).
"""

from __future__ import annotations

import copy
import re

OGC = "http://www.opengis.net/ogc"
MAX_PATTERN_CHARS = 500

# the queryable names this module substitutes (never needed by clients: a client that names them
# gets the same folded comparison)
_SYNTHETIC = "sinp:folded:"


class PatternError(ValueError):
    """A literal that cannot be a search pattern (message in French, shown to the client)."""


def like_pattern(literal, wild_card="%", single_char="_", escape_char="\\", substring=False):
    """(SQL LIKE pattern with ``\\`` as escape, whether the literal holds a wildcard).

    ``wild_card`` → ``%``, ``single_char`` → ``_``, ``escape_char`` + c → c literally; every literal
    character that is not a letter or a digit is escaped. Runs of ``%`` are collapsed.
    ``substring``: padded with ``%`` on both sides (stock pycsw's AnyText semantics).
    """
    literal = literal or ""
    if "\x00" in literal:
        raise PatternError("Motif de recherche invalide : caractère NUL")
    if len(literal) > MAX_PATTERN_CHARS:
        raise PatternError("Motif de recherche trop long (%d caractères au plus)" % MAX_PATTERN_CHARS)
    wild_card = wild_card or "%"
    single_char = single_char or "_"
    escape_char = escape_char or "\\"
    out, wildcards, i = [], False, 0
    while i < len(literal):
        if literal.startswith(escape_char, i) and i + len(escape_char) < len(literal):
            i += len(escape_char)
            out.append(_literal(literal[i]))
            i += 1
        elif literal.startswith(wild_card, i):
            wildcards = True
            if not out or out[-1] != "%":
                out.append("%")
            i += len(wild_card)
        elif literal.startswith(single_char, i):
            wildcards = True
            out.append("_")
            i += len(single_char)
        else:
            out.append(_literal(literal[i]))
            i += 1
    if substring:
        out = (["%"] if not out or out[0] != "%" else []) + out
        out += [] if out[-1] == "%" else ["%"]
    return "".join(out), wildcards


def _literal(char):
    return char if char.isalnum() and char not in "%_\\" else "\\" + char


class Rewriter:
    """Rewrites the ``PropertyIsLike`` of a filter before ``fes1.parse`` and its SQL after it."""

    def __init__(self, core_mappings, folded_columns, fold_function):
        # {source column: folded column}, e.g. {"anytext": "anytext_folded"}
        self.folded = {core_mappings[key]: col for key, col in folded_columns.items()}
        self.anytext = core_mappings["pycsw:AnyText"]
        self.fold_function = fold_function
        names = "|".join(re.escape(c) for c in sorted(self.folded.values()))
        self._folded_like = re.compile(r"(?<![\w.])(%s) like (:pvalue\d+)\b" % names)

    def queryables(self, queryables):
        """pycsw's queryables, plus the synthetic names of the folded columns and the unprefixed
        names (``AnyText``, ``Title``… as CQL users write them, e.g. ``AnyText like '%chiropt%'``)
        wherever every prefixed queryable of that local name is the same column."""
        by_local = {}
        for name, spec in queryables.items():
            if ":" in name and isinstance(spec, dict) and "dbcol" in spec:
                by_local.setdefault(name.split(":", 1)[1], set()).add(spec["dbcol"])
        aliases = {local: {"dbcol": cols.pop()} for local, cols in by_local.items() if len(cols) == 1}
        synthetic = {_SYNTHETIC + col: {"dbcol": col} for col in self.folded.values()}
        return {**aliases, **queryables, **synthetic}

    def rewrite(self, element, queryables):
        """A copy of the ogc:Filter ``element`` with our PropertyIsLike rewritten (or ``element``)."""
        targets = []
        for like in element.iter("{%s}PropertyIsLike" % OGC):
            name = like.find("{%s}PropertyName" % OGC)
            if name is None or like.find("{%s}Literal" % OGC) is None:
                continue  # ogc:Function or malformed: pycsw decides
            column = (queryables.get((name.text or "").strip()) or {}).get("dbcol")
            if column in self.folded:
                targets.append(like)
        if not targets:
            return element
        copied = copy.deepcopy(element)
        originals = set(targets)
        changed = False
        for like_copy, like in zip(copied.iter("{%s}PropertyIsLike" % OGC), element.iter("{%s}PropertyIsLike" % OGC)):
            if like in originals:
                changed = self._rewrite_one(like_copy, queryables) or changed
        return copied if changed else element

    def _rewrite_one(self, like, queryables):
        name = like.find("{%s}PropertyName" % OGC)
        literal = like.find("{%s}Literal" % OGC)
        column = queryables[name.text.strip()]["dbcol"]
        anytext = column == self.anytext
        pattern, wildcards = like_pattern(
            literal.text, like.get("wildCard"), like.get("singleChar"), like.get("escapeChar"), substring=anytext
        )
        if anytext and not wildcards:
            return False  # a plain word: pycsw's full-text search
        literal.text = pattern
        like.set("wildCard", "%")
        like.set("singleChar", "_")
        like.set("escapeChar", "\\")
        if column != self.anytext and like.get("matchCase") == "true":
            return True  # LIKE on the stored column, case and accents as written
        like.attrib.pop("matchCase", None)
        name.text = _SYNTHETIC + self.folded[column]
        return True

    def fold_sql(self, where):
        """``<folded column> like :pvalueN`` → ``<folded column> like FOLD(:pvalueN)``."""
        return self._folded_like.sub(r"\1 like %s(\2)" % self.fold_function, where)

    def parse(self, original_parse, element, queryables, *args, **kwargs):
        """pycsw's ``fes1.parse`` with our PropertyIsLike."""
        queryables = self.queryables(queryables)
        try:
            rewritten = self.rewrite(element, queryables)
        except PatternError as err:
            raise RuntimeError(str(err)) from None  # pycsw reports it as an invalid filter
        if rewritten is element:
            return original_parse(element, queryables, *args, **kwargs)
        where, values = original_parse(rewritten, queryables, *args, **kwargs)
        return self.fold_sql(where), values


def install(fes1_module, mappings, enabled=lambda: True):
    """Replace ``fes1_module.parse`` (pycsw 2.6.2) by the rewriting one; returns the Rewriter.

    ``mappings`` holds MD_CORE_MODEL, FOLDED_COLUMNS and FOLD_FUNCTION (pycsw_config/mappings.py).
    ``enabled()`` is asked at every call: False leaves pycsw's own translation (a table that has not
    been migrated yet has no folded columns).
    """
    original = getattr(fes1_module, "_sinp_original_parse", fes1_module.parse)
    rewriter = Rewriter(mappings["MD_CORE_MODEL"]["mappings"], mappings["FOLDED_COLUMNS"], mappings["FOLD_FUNCTION"])

    def parse(element, queryables, *args, **kwargs):
        if not enabled():
            return original(element, queryables, *args, **kwargs)
        return rewriter.parse(original, element, queryables, *args, **kwargs)

    fes1_module._sinp_original_parse = original
    fes1_module.parse = parse
    return rewriter
