/* Territory service: draw the project's polygon on a map; it is written as GeoJSON into the form's field.
 * A polygon typed or pasted into the field (GeoJSON, or WKT POLYGON / MULTIPOLYGON) is drawn as well.
 *
 * <div data-module="sinp-territory-map" data-module-input="polygone" data-module-map_config="{…}">
 */
this.ckan.module("sinp-territory-map", function () {
  "use strict";

  var NUMBER = "[-+]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][-+]?\\d+)?";

  /* GeoJSON geometry of a WKT POLYGON or MULTIPOLYGON (2D, or Z/M values dropped); null otherwise. */
  function wktGeometry(value) {
    var m = /^\s*(?:SRID=\d+\s*;\s*)?(MULTIPOLYGON|POLYGON)\s*(?:ZM|Z|M)?\s*(\([\s\S]*\))\s*$/i.exec(value);
    if (!m) { return null; }
    var pair = new RegExp("(" + NUMBER + ")\\s+(" + NUMBER + ")(?:\\s+" + NUMBER + ")*", "g");
    var body = m[2]
      .replace(pair, function (all, x, y) { return "[" + parseFloat(x) + "," + parseFloat(y) + "]"; })
      .replace(/\(/g, "[").replace(/\)/g, "]");
    try {
      return {type: m[1].toUpperCase() === "POLYGON" ? "Polygon" : "MultiPolygon", coordinates: JSON.parse(body)};
    } catch (e) {
      return null;
    }
  }

  function geometryOf(value) {
    var text = (value || "").trim();
    if (!text) { return null; }
    if (text.charAt(0) === "{") {
      try { return JSON.parse(text); } catch (e) { return null; }
    }
    return wktGeometry(text);
  }

  function frenchDrawTexts() {
    if (!L.drawLocal) { return; }
    var d = L.drawLocal.draw, e = L.drawLocal.edit;
    d.toolbar.actions = {title: "Annuler le dessin", text: "Annuler"};
    d.toolbar.finish = {title: "Terminer le dessin", text: "Terminer"};
    d.toolbar.undo = {title: "Supprimer le dernier point", text: "Supprimer le dernier point"};
    d.toolbar.buttons.polygon = "Dessiner un polygone";
    d.toolbar.buttons.rectangle = "Dessiner un rectangle";
    d.handlers.polygon.tooltip = {start: "Cliquez pour commencer le polygone.",
                                  cont: "Cliquez pour continuer le polygone.",
                                  end: "Cliquez sur le premier point pour fermer le polygone."};
    d.handlers.polygon.error = "<strong>Erreur :</strong> les côtés ne doivent pas se croiser.";
    d.handlers.rectangle.tooltip = {start: "Cliquez et faites glisser pour dessiner un rectangle."};
    d.handlers.simpleshape.tooltip = {end: "Relâchez la souris pour terminer."};
    e.toolbar.actions.save = {title: "Enregistrer les modifications", text: "Enregistrer"};
    e.toolbar.actions.cancel = {title: "Annuler les modifications", text: "Annuler"};
    e.toolbar.actions.clearAll = {title: "Tout effacer", text: "Tout effacer"};
    e.toolbar.buttons = {edit: "Modifier le périmètre", editDisabled: "Aucun périmètre à modifier",
                         remove: "Effacer le périmètre", removeDisabled: "Aucun périmètre à effacer"};
    e.handlers.edit.tooltip = {text: "Faites glisser les sommets pour modifier le périmètre.",
                               subtext: "Cliquez sur Annuler pour revenir en arrière."};
    e.handlers.remove.tooltip = {text: "Cliquez sur le périmètre pour l'effacer."};
  }

  return {
    options: {input: "polygone", map_config: {}},

    initialize: function () {
      if (typeof L === "undefined") { return; }
      var container = this.el[0];
      var map = ckan.commonLeafletMap(container, this.options.map_config, {attributionControl: false});
      map.setView([47.1, 5.0], 7);
      var drawn = new L.FeatureGroup().addTo(map);
      var field = document.getElementById(this.options.input);
      if (!field) { return; }

      function show(fit) {
        var geometry = geometryOf(field.value);
        drawn.clearLayers();
        container.removeAttribute("data-sinp-drawn");
        if (!geometry) { return; }
        try {
          var layer = L.geoJSON(geometry, {style: {color: "#1f5135", weight: 2, fillOpacity: 0.15}});
          layer.eachLayer(function (l) { drawn.addLayer(l); });
        } catch (e) {
          return;  // not a geometry Leaflet can draw: the server says what is wrong
        }
        if (drawn.getLayers().length) {
          container.setAttribute("data-sinp-drawn", "polygone");
          if (fit) { map.fitBounds(drawn.getBounds(), {maxZoom: 14}); }
        }
      }

      show(true);
      field.addEventListener("input", function () { show(true); });

      if (L.Control && L.Control.Draw) {
        frenchDrawTexts();
        map.addControl(new L.Control.Draw({
          draw: {polyline: false, marker: false, circle: false, circlemarker: false, rectangle: {}, polygon: {}},
          edit: {featureGroup: drawn}
        }));
        map.on("draw:created", function (e) {
          drawn.clearLayers();
          drawn.addLayer(e.layer);
          field.value = JSON.stringify(e.layer.toGeoJSON().geometry);
          container.setAttribute("data-sinp-drawn", "polygone");
        });
        map.on("draw:edited draw:deleted", function () {
          var layers = drawn.getLayers();
          field.value = layers.length ? JSON.stringify(layers[0].toGeoJSON().geometry) : "";
        });
      }
    }
  };
});
