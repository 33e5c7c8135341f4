"""The indicator charts (domain/charts.py): valid SVG, every text escaped, French numbers, secret
cells hatched and labelled, a French message when there is nothing to draw, accessible names."""

from __future__ import annotations

import lxml.etree as etree
import pytest

from ckanext.sinp.domain import charts
from ckanext.sinp.domain.charts import Cell, Point

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert('x')</script> & co"


def _parse(svg: str):
    root = etree.fromstring(svg.encode("utf-8"))  # raises on anything that is not well-formed XML
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img" and root.get("viewBox")
    assert root.get("width") is None  # no fixed size: the chart takes its box's width (phones)
    return root


def _texts(root) -> list[str]:
    return ["".join(e.itertext()) for e in root.iter(f"{SVG}text", f"{SVG}title", f"{SVG}desc")]


def _all_charts(title: str, name: str = "Série"):
    points = [Point("2020", 1234), Point("2021", 2345.5), Point("2022", 10)]
    return [
        charts.line_svg({name: points}, title=title, unit="observations"),
        charts.bar_svg({name: points}, title=title, unit="observations"),
        charts.bar_svg({name: points, "autre": points}, title=title, unit="%", stacked=True),
        charts.maille_map_svg([Cell("10kmL93E074N695", 12), Cell("E075N695", 3)], title=title, unit="taxons"),
        charts.sparkline_svg([1, 2, 3], title=title),
    ]


@pytest.mark.parametrize("index", range(5))
def test_a_hostile_title_and_series_name_are_text_not_markup(index):
    svg = _all_charts(HOSTILE, HOSTILE)[index]
    root = _parse(svg)
    assert "<script" not in svg and not list(root.iter(f"{SVG}script"))
    assert root.find(f"{SVG}title").text == HOSTILE  # read back as the same text
    labelled = root.get("aria-labelledby").split()
    ids = {e.get("id") for e in root.iter()}
    assert all(i in ids for i in labelled)


def test_french_numbers():
    assert charts.fr_number(1234567) == "1\u202f234\u202f567"
    assert charts.fr_number(12.5) == "12,5"
    assert charts.fr_number(2345.25, 2) == "2\u202f345,25"
    assert charts.fr_number(3.0) == "3"
    assert charts.fr_number(0.25) == "0,25"
    assert charts.fr_number(None) == "—"


def test_a_line_chart_says_its_values_in_french():
    root = _parse(
        charts.line_svg(
            [Point("2020", 1234), Point("2021", 12345.5)], title="Nombre d'observations", unit="observations"
        )
    )
    texts = _texts(root)
    assert "10\u202f000" in texts  # axis tick
    desc = root.find(f"{SVG}desc").text
    assert "de 2020 à 2021" in desc and "dernière valeur 12\u202f345,5 observations" in desc
    assert "1\u202f234" in " ".join(texts) and "1,234" not in " ".join(texts)


def test_secret_values_are_hatched_with_their_legend_and_never_a_number():
    points = [Point("2020", 40), Point("2021", None, True), Point("2022", 42)]
    for svg in (
        charts.line_svg({"Reptiles": points}, title="t", unit="observations"),
        charts.bar_svg({"Reptiles": points}, title="t", unit="observations"),
        charts.maille_map_svg([Cell("10kmL93E074N695", 5), Cell("10kmL93E075N695", None, True)], title="t"),
    ):
        root = _parse(svg)
        pattern = root.find(f"{SVG}defs/{SVG}pattern")
        hatched = [e for e in root.iter(f"{SVG}rect") if e.get("fill") == f"url(#{pattern.get('id')})"]
        assert len(hatched) == 2  # the secret cell and its legend swatch
        assert charts.SECRET_LABEL in _texts(root)
        assert any(t.endswith(f": {charts.SECRET_LABEL}") for t in _texts(root))
        assert "secrète" in root.find(f"{SVG}desc").text


def test_no_secret_no_secret_legend():
    root = _parse(charts.bar_svg([Point("Doubs", 3), Point("Jura", 4)], title="t"))
    assert charts.SECRET_LABEL not in _texts(root)


@pytest.mark.parametrize(
    "svg",
    [
        charts.line_svg({}, title="Vide"),
        charts.line_svg({"a": [Point("2020", None)]}, title="Vide"),
        charts.bar_svg([], title="Vide"),
        charts.maille_map_svg([], title="Vide"),
        charts.maille_map_svg([Cell("pas une maille", 3)], title="Vide"),
        charts.sparkline_svg([None, None], title="Vide"),
    ],
)
def test_nothing_to_draw_says_so_in_french(svg):
    root = _parse(svg)
    assert charts.EMPTY_MESSAGE in _texts(root)


def test_cells_are_placed_by_their_code():
    root = _parse(
        charts.maille_map_svg(
            {"10kmL93E074N695": 1, "10kmL93E075N695": 9, "10kmL93E074N694": 5}, title="Carte", unit="taxons"
        )
    )
    cells = {
        e.find(f"{SVG}title").text.split(" : ")[0]: (float(e.get("x")), float(e.get("y")))
        for e in root.iter(f"{SVG}rect")
        if e.find(f"{SVG}title") is not None
    }
    assert cells["10kmL93E075N695"][0] > cells["10kmL93E074N695"][0]  # east is right
    assert cells["10kmL93E074N694"][1] > cells["10kmL93E074N695"][1]  # south is lower
    fills = {
        e.find(f"{SVG}title").text.split(" : ")[0]: e.get("fill")
        for e in root.iter(f"{SVG}rect")
        if e.find(f"{SVG}title") is not None
    }
    assert fills["10kmL93E074N695"] == charts.SEQUENTIAL[0] and fills["10kmL93E075N695"] == charts.SEQUENTIAL[-1]
    assert ["1 – 2", "3 – 4", "5", "6 – 7", "8 – 9"] == [t for t in _texts(root) if t[:1].isdigit()][-5:]
    root = _parse(charts.maille_map_svg({"E074N695": 0.5, "E075N695": 3.0}, title="Carte", unit="%"))
    assert "0,5 – 1" in _texts(root)  # first class of five of equal width


def test_counts_get_whole_ticks():
    root = _parse(charts.bar_svg([Point("2015", 1), Point("2017", 2)], title="t", unit="taxons"))
    assert "1,5" not in _texts(root) and "0,5" not in _texts(root) and "2" in _texts(root)


def test_charts_are_reproducible_and_ids_distinct_between_charts():
    a = charts.line_svg([Point("2020", 1)], title="A")
    assert a == charts.line_svg([Point("2020", 1)], title="A")
    b = charts.line_svg([Point("2020", 2)], title="A")
    assert _parse(a).find(f"{SVG}title").get("id") != _parse(b).find(f"{SVG}title").get("id")


def test_grouped_bars_sit_side_by_side():
    root = _parse(
        charts.bar_svg({"Certain": [Point("2021", 5)], "Probable": [Point("2021", 5)]}, title="t", unit="observations")
    )
    bars = [e for e in root.iter(f"{SVG}rect") if (e.find(f"{SVG}title") is not None)]
    assert len(bars) == 2 and bars[0].get("x") != bars[1].get("x") and bars[0].get("y") == bars[1].get("y")


def test_stacked_secrets_sit_on_top_of_the_known_values_and_fill_the_total():
    root = _parse(
        charts.bar_svg(
            {
                "Certain": [Point("2021", 60)],
                "Douteux": [Point("2021", None, True)],
                "Probable": [Point("2021", 20)],
                "Invalide": [Point("2021", None, True)],
            },
            title="t",
            unit="%",
            stacked=True,
            total=100,
        )
    )
    bars = {
        e.find(f"{SVG}title").text.split(" : ")[0]: (float(e.get("y")), float(e.get("height")))
        for e in root.iter(f"{SVG}rect")
        if e.find(f"{SVG}title") is not None
    }
    certain, probable, secret = bars["Certain 2021"], bars["Probable 2021"], bars["Douteux 2021"]
    assert abs(certain[0] - (probable[0] + probable[1])) < 0.2  # piled, no overlap
    assert abs(probable[0] - (secret[0] + secret[1])) < 0.2  # the secrets on top
    other = bars["Invalide 2021"]
    assert abs(secret[0] - (other[0] + other[1])) < 0.2
    assert abs(secret[1] + other[1] - probable[1]) < 0.2  # they fill what is left of 100 % (20 %)
