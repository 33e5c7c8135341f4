/* Extent of a JDD drawn on a map: Leaflet and Leaflet.draw of ckanext-spatial (served locally). A
 * rectangle drawn or edited writes the four bounds (WGS 84, 6 decimals) into the number fields of the
 * form; bounds typed into those fields are drawn. Without JavaScript, the fields alone.
 *
 * <div data-module="sinp-bbox-map" data-module-west="field-borne_ouest" data-module-east="…"
 *      data-module-south="…" data-module-north="…">
 */
this.ckan.module("sinp-bbox-map", function ($) {
  "use strict";

  var FRENCH_DRAW = {
    draw: {
      toolbar: {
        actions: {title: "Annuler le dessin", text: "Annuler"},
        finish: {title: "Terminer le dessin", text: "Terminer"},
        undo: {title: "Effacer le dernier point", text: "Effacer le dernier point"},
        buttons: {rectangle: "Dessiner l'emprise (rectangle)"}
      },
      handlers: {
        rectangle: {tooltip: {start: "Cliquez et faites glisser pour dessiner l'emprise."}},
        simpleshape: {tooltip: {end: "Relâchez la souris pour terminer."}}
      }
    },
    edit: {
      toolbar: {
        actions: {
          save: {title: "Enregistrer les modifications", text: "Enregistrer"},
          cancel: {title: "Annuler les modifications", text: "Annuler"},
          clearAll: {title: "Tout effacer", text: "Tout effacer"}
        },
        buttons: {
          edit: "Modifier l'emprise", editDisabled: "Aucune emprise à modifier",
          remove: "Effacer l'emprise", removeDisabled: "Aucune emprise à effacer"
        }
      },
      handlers: {
        edit: {tooltip: {text: "Faites glisser les poignées pour modifier l'emprise.", subtext: "Annuler pour revenir en arrière."}},
        remove: {tooltip: {text: "Cliquez sur l'emprise pour l'effacer."}}
      }
    }
  };

  function number(input) {
    var v = parseFloat(String(input.value).replace(",", "."));
    return isNaN(v) ? null : v;
  }

  return {
    options: {west: null, east: null, south: null, north: null},

    initialize: function () {
      if (typeof L === "undefined") { return; }
      var o = this.options;
      var inputs = {
        west: document.getElementById(o.west), east: document.getElementById(o.east),
        south: document.getElementById(o.south), north: document.getElementById(o.north)
      };
      if (!inputs.west || !inputs.east || !inputs.south || !inputs.north) { return; }
      var block = this.el.closest(".sinp-bbox-map-block");
      block.removeAttr("hidden");
      if (L.drawLocal) { $.extend(true, L.drawLocal, FRENCH_DRAW); }

      var map = L.map(this.el[0], {scrollWheelZoom: false}).setView([47.1, 5.0], 7);
      L.tileLayer("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png",
                  {attribution: "© contributeurs d'OpenStreetMap", maxZoom: 18}).addTo(map);
      map.attributionControl.setPrefix(false);
      var drawn = new L.FeatureGroup().addTo(map);

      function fromInputs() {
        var b = {west: number(inputs.west), east: number(inputs.east), south: number(inputs.south), north: number(inputs.north)};
        drawn.clearLayers();
        if (b.west === null || b.east === null || b.south === null || b.north === null) { return; }
        if (b.west > b.east || b.south > b.north) { return; }  // the server says what is wrong
        var rect = L.rectangle([[b.south, b.west], [b.north, b.east]]);
        drawn.addLayer(rect);
        map.fitBounds(rect.getBounds(), {maxZoom: 12, padding: [10, 10]});
      }

      function toInputs(layer) {
        var bounds = layer ? layer.getBounds() : null;
        var values = bounds ? {
          west: bounds.getWest(), east: bounds.getEast(), south: bounds.getSouth(), north: bounds.getNorth()
        } : {west: "", east: "", south: "", north: ""};
        Object.keys(inputs).forEach(function (k) {
          inputs[k].value = values[k] === "" ? "" : values[k].toFixed(6);
          inputs[k].dispatchEvent(new Event("input", {bubbles: true}));
        });
      }

      if (L.Control && L.Control.Draw) {
        map.addControl(new L.Control.Draw({
          position: "topleft",
          draw: {polyline: false, polygon: false, marker: false, circle: false, circlemarker: false,
                 rectangle: {showArea: false}},
          edit: {featureGroup: drawn}
        }));
        map.on("draw:created", function (e) {
          drawn.clearLayers();
          drawn.addLayer(e.layer);
          toInputs(e.layer);
        });
        map.on("draw:edited", function () {
          var layers = drawn.getLayers();
          toInputs(layers.length ? layers[0] : null);
        });
        map.on("draw:deleted", function () { toInputs(null); });
      }
      Object.keys(inputs).forEach(function (k) { inputs[k].addEventListener("change", fromInputs); });
      block.find(".sinp-bbox-clear").on("click", function () { drawn.clearLayers(); toInputs(null); });
      fromInputs();
    }
  };
});
