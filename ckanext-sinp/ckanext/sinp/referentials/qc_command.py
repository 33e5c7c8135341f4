"""``sinp-qc-check``: the occurrence check a producer runs on its own machine, without CKAN.

    sinp-qc-check FILE [--srid 4326|2154] [--report OUT.json] [--referentiels DIR]

The same checks and the same report as ``ckan sinp qc-check`` without ``--jdd`` (``engine.run``,
no store), loading only the SINP domain and the referential file readers: no ``ckan`` import, no database. The referentials are
the extracts shipped in ``schemas/referentiels`` (or those of ``--referentiels``). Exit code: 0 when
every row is accepted, 1 when an error refuses a row or the file, 2 when the file cannot be read
or an option is wrong (a French message, no traceback).

``summary_lines``, ``write_report`` and ``exit_code`` are shared with ``ckan sinp qc-check``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ckanext.sinp.domain.occtax import rules


def summary_lines(report: dict, report_path: str | None = None) -> list[tuple[str, bool]]:
    """The lines printed after a check: (text, is a warning)."""
    out = [
        (
            f"Fichier {report['file']['name']} ({report['file'].get('encoding') or '?'}, "
            f"séparateur {report['file'].get('delimiter') or '?'}) : {report['rows_received']} lignes reçues, "
            f"{report['rows_accepted']} acceptées, {report['rows_rejected']} refusées.",
            False,
        )
    ]
    for code, n in sorted(report["counts"].items(), key=lambda kv: -kv[1]):
        rule = rules.BY_CODE[code]
        kind = "" if rule.blocking else " (avertissement)"
        out.append((f"  {code:4} {rules.CATEGORIES[rule.category]:12} {rule.title}{kind} : {n}", False))
    for skipped in report.get("skipped_checks", []):
        out.append((f"  contrôle {skipped['code']} non effectué : {skipped['reason']}", True))
    for error in report["errors"][:20]:
        where = f"ligne {error['row']}" if error["row"] else "fichier"
        out.append((f"  {where} · {error['code']} · {error['message']}", False))
    if len(report["errors"]) > 20:
        out.append(
            (
                f"  … {len(report['errors']) - 20} autres erreurs"
                + (" (voir le rapport JSON)." if report_path else " : utilisez --report pour les lire."),
                False,
            )
        )
    return out


def write_report(report: dict, report_path: str) -> None:
    """The full JSON report (same shape as ``sinp_qc_report_show``, every error)."""
    report["status"] = "done"
    with open(report_path, "w", encoding="utf-8") as fh:
        json.dump(report, fh, ensure_ascii=False, indent=1, default=str)


def exit_code(report: dict) -> int:
    """1 when a row or the file is refused, else 0."""
    return 1 if report["rows_rejected"] or any(e["row"] is None for e in report["errors"]) else 0


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # French, exit 2
        if "required" in message:
            message = "indiquez le fichier à contrôler (FICHIER)."
        elif "invalid choice" in message:
            message = "--srid vaut 4326 (WGS 84) ou 2154 (Lambert-93)."
        elif "unrecognized arguments" in message:
            message = "argument inconnu : " + message.split(":", 1)[-1].strip() + "."
        elif "expected one argument" in message:
            message = "une valeur est attendue après " + message.split(":", 1)[0].replace("argument ", "") + "."
        self.print_usage(sys.stderr)
        print(f"sinp-qc-check : erreur : {message}", file=sys.stderr)
        sys.exit(2)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sinp-qc-check",
        description="Contrôle un fichier d'occurrences (standard Occurrences de taxons) sans rien enregistrer, "
        "avec les règles du dépôt de la plateforme et les référentiels livrés.",
        add_help=False,
    )
    parser.add_argument("path", metavar="FICHIER", help="Fichier CSV à contrôler.")
    parser.add_argument(
        "--srid",
        choices=["4326", "2154"],
        default="4326",
        help="Système de coordonnées des géométries sans colonne srid (défaut : 4326).",
    )
    parser.add_argument(
        "--report",
        dest="report_path",
        metavar="RAPPORT.json",
        default=None,
        help="Écrit le rapport JSON complet (toutes les erreurs).",
    )
    parser.add_argument(
        "--referentiels",
        metavar="DOSSIER",
        default=None,
        help="Dossier des référentiels (même organisation que schemas/referentiels ; défaut : les extraits livrés).",
    )
    parser.add_argument("-h", "--help", action="help", help="Affiche cette aide.")
    return parser


def _fail(message: str) -> int:
    print(f"sinp-qc-check : {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    path = args.path
    if not os.path.exists(path):
        return _fail(f"le fichier « {path} » n'existe pas.")
    if os.path.isdir(path):
        return _fail(f"« {path} » est un dossier, pas un fichier.")
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as err:
        return _fail(f"le fichier « {path} » ne peut pas être lu ({err.strerror or err}).")
    if args.report_path:
        target = os.path.dirname(os.path.abspath(args.report_path))
        if os.path.isdir(args.report_path) or not os.path.isdir(target) or not os.access(target, os.W_OK):
            return _fail(f"le rapport ne peut pas être écrit dans « {args.report_path} ».")

    # imported here: --help and the errors above answer at once
    from ckanext.sinp.domain.model import schemas_dir
    from ckanext.sinp.domain.occtax import engine
    from ckanext.sinp.referentials import geo_store

    base = args.referentiels or schemas_dir()
    if args.referentiels and not os.path.isdir(args.referentiels):
        return _fail(f"le dossier des référentiels « {args.referentiels} » n'existe pas.")
    try:
        referentials = engine.Referentials.from_dict(geo_store.referentials_from_files(base))
    except (OSError, ValueError) as err:
        return _fail(f"les référentiels de « {base} » ne peuvent pas être lus ({err}).")
    options = engine.Options(default_srid=int(args.srid), file_name=os.path.basename(path))
    try:
        result = engine.run(path, referentials, options)
    except OSError as err:
        return _fail(f"le fichier « {path} » ne peut pas être lu ({err.strerror or err}).")
    with result:
        report = result.report(limit=None)
    for line, _warning in summary_lines(report, args.report_path):
        print(line)
    if args.report_path:
        try:
            write_report(report, args.report_path)
        except OSError as err:
            return _fail(f"le rapport ne peut pas être écrit dans « {args.report_path} » ({err.strerror or err}).")
        print(f"Rapport complet : {args.report_path}")
    return exit_code(report)


def entry_point() -> None:
    """Console script (``setup.py``)."""
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
