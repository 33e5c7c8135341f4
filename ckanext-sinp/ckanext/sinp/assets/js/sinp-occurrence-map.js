/* Map of the occurrences deposited on a JDD, as the visitor may see them (precise or blurred).
 *
 * <div data-module="sinp-occurrence-map" data-module-url="…/sinp_occurrence_map?jdd=…"
 *      data-module-map_config="{…ckanext-spatial's common map config…}">
 *
 * The server (sinp_occurrence_map) decides what is drawn: the observations one by one when they are
 * few, else their count per 10 km cell; the legend says which. Popups and legend are DOM nodes whose
 * values are set with textContent: a deposited value is never read as HTML.
 */
this.ckan.module("sinp-occurrence-map", function () {
  "use strict";

  var GREENS = ["#d9f0d3", "#a6dba0", "#5aae61", "#1b7837", "#00441b"];
  var LEVELS = {precise: "précise", commune: "floutée à la commune", maille: "floutée à la maille de 10 km",
                departement: "au département"};

  function text(value) {
    return value === null || value === undefined ? "" : String(value);
  }

  var fr = window.sinpMapClasses.fr;

  function el(tag, className, content) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (content !== undefined) { node.textContent = content; }
    return node;
  }

  function popupContent(props) {
    var box = el("div", "sinp-occurrence-popup");
    box.appendChild(el("em", "", text(props.nomCite)));
    [["", props.dateDebut], ["Localisation : ", LEVELS[props.niveauDiffusion] || props.niveauDiffusion],
     ["Validation : ", props.statutValidation]]
      .forEach(function (row) {
        box.appendChild(document.createElement("br"));
        box.appendChild(document.createTextNode(row[0] + text(row[1])));
      });
    return box;
  }

  function cellPopup(props) {
    var box = el("div", "sinp-occurrence-popup");
    var n = props.count;
    box.appendChild(el("strong", "", fr(n) + (n > 1 ? " observations" : " observation")));
    box.appendChild(document.createElement("br"));
    box.appendChild(document.createTextNode("Maille " + text(props.code)));
    if (props.blurred) {
      box.appendChild(document.createElement("br"));
      box.appendChild(document.createTextNode("dont " + fr(props.blurred) + " connue(s) seulement à la maille ou à la commune"));
    }
    return box;
  }

  function colour(bounds, n) {
    return window.sinpMapClasses.colour(GREENS, bounds, n);
  }

  function legend(map, build) {
    var control = L.control({position: "bottomright"});
    control.onAdd = function () {
      var box = el("div", "sinp-map-legend");
      L.DomEvent.disableClickPropagation(box);
      build(box);
      return box;
    };
    control.addTo(map);
  }

  function legendRow(box, swatch, label) {
    var row = el("div");
    row.appendChild(swatch);
    row.appendChild(document.createTextNode(label));
    box.appendChild(row);
  }

  function drawCells(map, cells) {
    var counts = cells.features.map(function (f) { return f.properties.count; });
    var bounds = window.sinpMapClasses.classes(counts);
    var layer = L.geoJSON(cells, {
      style: function (feature) {
        return {color: "#1f5135", weight: 1, fillColor: colour(bounds, feature.properties.count), fillOpacity: 0.75,
                className: "sinp-occurrence-cell"};
      },
      onEachFeature: function (feature, leafletLayer) {
        leafletLayer.bindPopup(function () { return cellPopup(feature.properties || {}); });
      }
    }).addTo(map);
    legend(map, function (box) {
      box.appendChild(el("strong", "", "Observations par maille de 10 km"));
      window.sinpMapClasses.legendRows(GREENS, bounds).forEach(function (entry) {
        var swatch = el("i");
        swatch.style.background = entry.colour;
        legendRow(box, swatch, entry.label);
      });
    });
    return layer;
  }

  var POINT = {radius: 6, weight: 2, color: "#1f5135", fillColor: "#2c6e49", fillOpacity: 0.75,
               className: "sinp-occurrence-point"};
  var AREA = {color: "#a4520b", weight: 1, fillColor: "#d6781a", fillOpacity: 0.35, className: "sinp-occurrence-area"};

  function drawPoints(map, points) {
    var areas = points.features.some(function (f) { return f.geometry && f.geometry.type !== "Point"; });
    var layer = L.geoJSON(points, {
      // precise observations as green circles, blurred ones as their orange area (commune's cell, 10 km cell)
      pointToLayer: function (feature, latlng) { return L.circleMarker(latlng, POINT); },
      style: function (feature) { return feature.geometry.type === "Point" ? POINT : AREA; },
      onEachFeature: function (feature, leafletLayer) {
        leafletLayer.bindPopup(function () { return popupContent(feature.properties || {}); });
      }
    }).addTo(map);
    legend(map, function (box) {
      box.appendChild(el("strong", "", "Observations"));
      legendRow(box, el("i", "sinp-legend-point"), "localisation précise");
      if (areas) { legendRow(box, el("i", "sinp-legend-area"), "zone floutée (commune ou maille de 10 km)"); }
    });
    return layer;
  }

  return {
    options: {url: null, map_config: {}},

    initialize: function () {
      if (typeof L === "undefined" || !this.options.url) { return; }
      var container = this.el[0];
      var map = ckan.commonLeafletMap(container, this.options.map_config, {attributionControl: false});
      map.setView([47.1, 5.0], 7);
      fetch(this.options.url, {credentials: "same-origin", headers: {Accept: "application/json"}})
        .then(function (response) {
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.json();
        })
        .then(function (body) {
          var data = body.result;
          var layer = data.mode === "points" ? drawPoints(map, data.points) : drawCells(map, data.cells);
          if (layer.getLayers().length) { map.fitBounds(layer.getBounds(), {maxZoom: 12}); }
          container.setAttribute("data-sinp-drawn", data.mode);
        })
        .catch(function () {
          var box = el("div", "alert alert-warning", "La carte des observations n'a pas pu être chargée.");
          container.parentNode.insertBefore(box, container.nextSibling);
        });
    }
  };
});
