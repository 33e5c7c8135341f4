/* The validation page of a JDD (templates/sinp/validation.html) and the detail of one observation.
 *
 * - « Tout sélectionner (cette page) »: ticks or unticks every observation row of the table shown;
 *   the count of ticked rows is kept next to « les observations cochées » (the decision is still
 *   confirmed on the server's confirmation page, which names the count and the level).
 * - <div data-module="sinp-validation-map" data-module-url="…sinp_occurrence_search…"
 *        data-module-detail="/jdd/<name>/validation">: a small map of the filtered observations as
 *   the chef de file may see them (precise in its scope, blurred outside); a precise point links
 *   to its detail and history. data-module-geometry="{GeoJSON}": one observation.
 *
 * Leaflet comes from ckanext-spatial's bundled files; values are always set as text.
 */
(function () {
  "use strict";

  function text(value) {
    return value === null || value === undefined ? "" : String(value);
  }

  function frenchDate(iso) {
    var months = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
                  "octobre", "novembre", "décembre"];
    var m = /^(\d{4})-(\d{2})-(\d{2})/.exec(text(iso));
    if (!m) { return text(iso); }
    var day = parseInt(m[3], 10);
    return (day === 1 ? "1er" : String(day)) + " " + months[parseInt(m[2], 10) - 1] + " " + m[1];
  }

  function setupSelection() {
    var form = document.querySelector("form.sinp-validation-decision");
    if (!form) { return; }
    var rows = Array.prototype.slice.call(form.querySelectorAll("input[data-sinp-row]"));
    var all = form.querySelector("input[data-sinp-select-all]");
    var counters = form.querySelectorAll("[data-sinp-checked-count]");
    var cochees = form.querySelector("input[name=portee][value=cochees]");
    function refresh() {
      var n = rows.filter(function (r) { return r.checked; }).length;
      Array.prototype.forEach.call(counters, function (c) { c.textContent = String(n); });
      if (all) {
        all.checked = rows.length > 0 && n === rows.length;
        all.indeterminate = n > 0 && n < rows.length;
      }
    }
    rows.forEach(function (r) {
      r.addEventListener("change", function () {
        if (r.checked && cochees) { cochees.checked = true; }
        refresh();
      });
    });
    if (all && rows.length) {
      all.closest("label").hidden = false;
      all.addEventListener("change", function () {
        rows.forEach(function (r) { r.checked = all.checked; });
        if (all.checked && cochees) { cochees.checked = true; }
        refresh();
      });
    }
    refresh();
  }

  // sinp_occurrence_search gives « sensiAlerte » (even null) only to those who read the observation
  // precisely: the producer, the chefs de file of its scope, sysadmins
  function precise(props) {
    return Object.prototype.hasOwnProperty.call(props || {}, "sensiAlerte");
  }

  function popup(props, detail) {
    var box = document.createElement("div");
    box.className = "sinp-occurrence-popup";
    var name = document.createElement("em");
    name.textContent = text(props.nomCite);
    box.appendChild(name);
    [frenchDate(props.dateDebut), "Validation : " + text(props.statutValidation)].forEach(function (line) {
      box.appendChild(document.createElement("br"));
      box.appendChild(document.createTextNode(line));
    });
    if (detail && props.idSINPOccTax && precise(props)) {
      box.appendChild(document.createElement("br"));
      var link = document.createElement("a");
      link.href = detail.replace(/\/$/, "") + "/" + encodeURIComponent(props.idSINPOccTax);
      link.textContent = "Détail et historique";
      box.appendChild(link);
    }
    return box;
  }

  function baseMap(el) {
    var map = L.map(el, {scrollWheelZoom: false}).setView([47.1, 5.0], 7);
    L.tileLayer("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png",
                {attribution: "© les contributeurs d'OpenStreetMap"}).addTo(map);
    return map;
  }

  // one observation of the detail page (read precisely, or the page would not exist): shown as such
  function layerOf(data, detail, single) {
    return L.geoJSON(data, {
      style: function (feature) {
        var blurred = !single && !precise(feature && feature.properties);
        return {color: blurred ? "#6b7280" : "#1f5135", weight: 1, fillOpacity: 0.15};
      },
      pointToLayer: function (feature, latlng) {
        var blurred = !single && !precise(feature && feature.properties);
        return L.circleMarker(latlng, blurred
          ? {radius: 5, weight: 1, color: "#6b7280", fillColor: "#d1d5db", fillOpacity: 0.8,
             className: "sinp-validation-other"}
          : {radius: 7, weight: 2, color: "#1f5135", fillColor: "#2c6e49", fillOpacity: 0.75,
             className: "sinp-validation-point"});
      },
      onEachFeature: function (feature, leafletLayer) {
        var props = feature.properties || {};
        leafletLayer.bindPopup(function () { return popup(props, detail); });
      }
    });
  }

  if (this.ckan && this.ckan.module) {
    this.ckan.module("sinp-validation-map", function () {
      return {
        options: {url: null, detail: null, geometry: null},
        initialize: function () {
          if (typeof L === "undefined") { return; }
          var map = baseMap(this.el[0]);
          var status = document.querySelector("[data-sinp-map-status]");
          var fit = function (layer) {
            if (layer.getLayers().length) { map.fitBounds(layer.getBounds(), {maxZoom: 13}); }
          };
          if (this.options.geometry && this.options.geometry.type) {
            var one = layerOf({type: "Feature", geometry: this.options.geometry, properties: {}}, null, true).addTo(map);
            fit(one);
            return;
          }
          if (!this.options.url) { return; }
          var detail = this.options.detail;
          fetch(this.options.url, {credentials: "same-origin"})
            .then(function (response) { return response.json(); })
            .then(function (body) {
              var result = body.result || {features: []};
              var drawn = result.features.filter(function (f) { return f.geometry; });
              fit(layerOf({type: "FeatureCollection", features: drawn}, detail).addTo(map));
              if (status) {
                status.textContent = drawn.length < result.total
                  ? "Carte : " + drawn.length.toLocaleString("fr-FR") + " observations localisées sur " +
                    result.total.toLocaleString("fr-FR") + " (les 1 000 premières ; filtrez pour voir les autres)."
                  : "Carte : " + drawn.length.toLocaleString("fr-FR") + " observation(s).";
              }
            })
            .catch(function () { if (status) { status.textContent = "La carte n'a pas pu être chargée."; } });
        }
      };
    });
  }

  document.addEventListener("DOMContentLoaded", setupSelection);
}).call(this);
