/* Territory service: draw the project's polygon on a map; it is written as GeoJSON into the form's field.
 *
 * <div data-module="sinp-territory-map" data-module-input="polygone">
 */
this.ckan.module("sinp-territory-map", function () {
  "use strict";

  return {
    options: {input: "polygone"},

    initialize: function () {
      if (typeof L === "undefined") { return; }
      var map = L.map(this.el[0]).setView([47.1, 5.0], 7);
      L.tileLayer("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png",
                  {attribution: "© OpenStreetMap", maxZoom: 18}).addTo(map);
      var drawn = new L.FeatureGroup().addTo(map);
      var field = document.getElementById(this.options.input);
      if (!field) { return; }
      try {
        if (field.value.trim().charAt(0) === "{") { drawn.addLayer(L.geoJSON(JSON.parse(field.value))); }
      } catch (e) { /* WKT or invalid GeoJSON: the server says what is wrong */ }
      if (L.Control && L.Control.Draw) {
        map.addControl(new L.Control.Draw({
          draw: {polyline: false, marker: false, circle: false, circlemarker: false, rectangle: {}, polygon: {}},
          edit: {featureGroup: drawn}
        }));
        map.on("draw:created", function (e) {
          drawn.clearLayers();
          drawn.addLayer(e.layer);
          field.value = JSON.stringify(e.layer.toGeoJSON().geometry);
        });
      }
    }
  };
});
