/* Map of the occurrences deposited on a JDD, as the visitor may see them (precise or blurred).
 *
 * <div data-module="sinp-occurrence-map" data-module-url="…/sinp_occurrence_search?jdd=…">
 *
 * Popups are DOM nodes whose values are set with textContent: a deposited value is never read as HTML.
 */
this.ckan.module("sinp-occurrence-map", function () {
  "use strict";

  function text(value) {
    return value === null || value === undefined ? "" : String(value);
  }

  function popupContent(props) {
    var box = document.createElement("div");
    box.className = "sinp-occurrence-popup";
    var name = document.createElement("em");
    name.textContent = text(props.nomCite);
    box.appendChild(name);
    [["", props.dateDebut], ["Diffusion : ", props.niveauDiffusion], ["Validation : ", props.statutValidation]]
      .forEach(function (row) {
        box.appendChild(document.createElement("br"));
        box.appendChild(document.createTextNode(row[0] + text(row[1])));
      });
    return box;
  }

  return {
    options: {url: null},

    initialize: function () {
      if (typeof L === "undefined" || !this.options.url) { return; }
      var map = L.map(this.el[0]).setView([47.1, 5.0], 7);
      L.tileLayer("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png", {attribution: "© OpenStreetMap"}).addTo(map);
      fetch(this.options.url, {credentials: "same-origin"})
        .then(function (response) { return response.json(); })
        .then(function (body) {
          var layer = L.geoJSON(body.result, {
            // points as circles: Leaflet's marker images are not among the bundled files
            pointToLayer: function (feature, latlng) {
              return L.circleMarker(latlng, {radius: 7, weight: 2, color: "#1f5135", fillColor: "#2c6e49",
                                             fillOpacity: 0.7, className: "sinp-occurrence-point"});
            },
            onEachFeature: function (feature, leafletLayer) {
              var props = feature.properties || {};
              leafletLayer.bindPopup(function () { return popupContent(props); });
            }
          }).addTo(map);
          if (layer.getLayers().length) { map.fitBounds(layer.getBounds(), {maxZoom: 13}); }
        });
    }
  };
});
