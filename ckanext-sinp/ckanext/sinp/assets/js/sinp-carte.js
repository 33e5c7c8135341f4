/* The public géo-visualiseur (/carte): the observations by maille of 10 km, commune or département as
 * coloured shapes with a legend — the mailles' squares, the communes' and départements' outlines when
 * they are loaded (IGN ADMIN EXPRESS); a click on a cell lists its taxa (action sinp_carte_taxons) and
 * writes « cellule=… » in the address (the view stays shareable). And the taxon box of the filters: names
 * suggested from TAXREF.
 *
 * <div data-module="sinp-carte" data-module-url="/api/3/action/sinp_carte"
 *      data-module-taxons_url="/api/3/action/sinp_carte_taxons" data-module-query="{…filters…}"
 *      data-module-taxon_base="/taxon/" data-module-page="/carte?…" data-module-map_config="{…}">
 * <form data-module="sinp-carte-taxon-search" data-module-url="/api/3/action/sinp_taxon_search">
 *
 * The server decides what is counted (what the public may see; in the precise view, « vue=precise » in the
 * query, what the signed-in user may see precisely); every value it sends is set as text
 * (textContent, attributes), never read as HTML.
 */
this.ckan.module("sinp-carte", function () {
  "use strict";

  var COLOURS = ["#fde725", "#5ec962", "#21918c", "#3b528b", "#440154"];  // viridis, few to many

  var fr = window.sinpMapClasses.fr;

  function plural(n, word) {
    return fr(n) + " " + word + (n > 1 ? "s" : "");
  }

  function el(tag, className, content) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (content !== undefined && content !== null) { node.textContent = String(content); }
    return node;
  }

  function query(params) {
    var search = new URLSearchParams();
    Object.keys(params).forEach(function (k) {
      var v = params[k];
      if (v !== null && v !== undefined && v !== "") { search.set(k, String(v)); }
    });
    return search.toString();
  }

  function colourOf(bounds, n) {
    return window.sinpMapClasses.colour(COLOURS, bounds, n);
  }

  // « cette maille », « cette commune », « ce département »: the cell's name in the texts of the map
  var THIS_CELL = {maille: "cette maille", commune: "cette commune", departement: "ce département"};

  // the cells that have a shape, as GeoJSON: the action's « geojson », else its cells with a geometry
  function drawable(data) {
    var features = data.geojson ? data.geojson.features || [] : (data.cellules || []).map(function (c) {
      var properties = Object.assign({}, c);
      delete properties.geometry;
      return {type: "Feature", id: c.code, geometry: c.geometry || null, properties: properties};
    });
    return {type: "FeatureCollection", features: features.filter(function (f) { return f.geometry; })};
  }

  function legend(map, bounds, libelle) {
    var control = L.control({position: "bottomright"});
    control.onAdd = function () {
      var box = el("div", "sinp-map-legend sinp-carte-legend");
      L.DomEvent.disableClickPropagation(box);
      box.appendChild(el("strong", "", "Observations par " + (libelle || "maille")));
      window.sinpMapClasses.legendRows(COLOURS, bounds).forEach(function (entry) {
        var row = el("div");
        var swatch = el("i");
        swatch.style.background = entry.colour;
        row.appendChild(swatch);
        row.appendChild(document.createTextNode(entry.label));
        box.appendChild(row);
      });
      return box;
    };
    control.addTo(map);
  }

  function taxaTable(body, taxonBase) {
    var wrap = el("div", "table-responsive");
    var table = el("table", "table table-striped table-condensed sinp-carte-taxons-table");
    var head = el("thead");
    var tr = el("tr");
    [["Taxon", ""], ["Groupe", "sinp-col-groupe"], ["Observations", "num"], ["Dernière année", "num sinp-col-annee"], ["Sensible", ""]]
      .forEach(function (h) {
        var th = el("th", h[1], h[0]);
        th.setAttribute("scope", "col");
        tr.appendChild(th);
      });
    head.appendChild(tr);
    table.appendChild(head);
    var tbody = el("tbody");
    body.taxons.forEach(function (t) {
      var row = el("tr");
      var name = el("td");
      var link = el("a");
      link.setAttribute("href", taxonBase + encodeURIComponent(String(t.cd_ref)));
      link.appendChild(el("em", "", t.nom_valide));
      name.appendChild(link);
      if (t.nom_vern) { name.appendChild(document.createTextNode(" — " + t.nom_vern)); }
      row.appendChild(name);
      row.appendChild(el("td", "sinp-col-groupe", t.groupe || "—"));
      row.appendChild(el("td", "num", fr(t.nb_obs)));
      row.appendChild(el("td", "num sinp-col-annee", t.derniere_annee || "—"));
      var sens = el("td");
      if (t.sensible) { sens.appendChild(el("span", "sinp-badge-sensible", "sensible")); } else { sens.textContent = "non"; }
      row.appendChild(sens);
      tbody.appendChild(row);
    });
    table.appendChild(tbody);
    wrap.appendChild(table);
    return wrap;
  }

  return {
    options: {url: null, taxons_url: null, taxon_base: "/taxon/", query: {}, page: null, map_config: {}},

    initialize: function () {
      var self = this;
      var container = this.el[0];
      if (typeof L === "undefined" || !this.options.url) { return; }
      this.params = typeof this.options.query === "object" && this.options.query ? this.options.query : {};
      this.panel = document.getElementById("sinp-carte-taxons");
      var map = this.map = ckan.commonLeafletMap(container, this.options.map_config, {attributionControl: false, zoomSnap: 0.25});
      map.setView([47.1, 5.0], 7);
      fetch(this.options.url + "?" + query(this.params), {credentials: "same-origin", headers: {Accept: "application/json"}})
        .then(function (response) {
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.json();
        })
        .then(function (body) { self.draw(body.result); })
        .catch(function () { self.warn("La carte n'a pas pu être chargée."); });
      // a cell chosen in the table: its taxa without leaving the page
      document.querySelectorAll("a.sinp-carte-cellule").forEach(function (a) {
        a.addEventListener("click", function (event) {
          event.preventDefault();
          self.select(a.getAttribute("data-code"));
        });
      });
    },

    warn: function (message) {
      var box = el("div", "alert alert-warning", message);
      this.el[0].parentNode.insertBefore(box, this.el[0].nextSibling);
    },

    draw: function (data) {
      var self = this;
      var map = this.map;
      var collection = drawable(data);
      var features = collection.features;
      var bounds = window.sinpMapClasses.classes(features.map(function (f) { return f.properties.nb_obs; }));
      this.niveau = data.niveau || "maille";
      this.layers = {};
      var layer = L.geoJSON(collection, {
        style: function (feature) {
          return {color: "#333", weight: 0.6, fillColor: colourOf(bounds, feature.properties.nb_obs), fillOpacity: 0.75,
                  className: "sinp-carte-cell"};
        },
        onEachFeature: function (feature, leafletLayer) {
          var p = feature.properties || {};
          self.layers[p.code] = leafletLayer;
          leafletLayer.bindTooltip(function () {
            var box = el("div", "sinp-carte-tooltip");
            box.appendChild(el("strong", "", p.nom || p.code));
            box.appendChild(el("div", "", plural(p.nb_obs, "observation") + ", " + plural(p.nb_taxons, "taxon")));
            if (p.derniere_annee) { box.appendChild(el("div", "", "dernière année : " + p.derniere_annee)); }
            return box;
          }, {sticky: true});
          leafletLayer.on("click", function () { self.select(p.code); });
        }
      }).addTo(map);
      if (features.length) {
        legend(map, bounds, data.niveau === "maille" ? "maille" : data.niveau_libelle);
        map.fitBounds(layer.getBounds(), {maxZoom: 10});
      }
      this.el[0].setAttribute("data-sinp-drawn", String(features.length));
      var chosen = new URLSearchParams(window.location.search).get("cellule");
      if (chosen && this.layers[chosen]) { this.highlight(chosen); }
    },

    highlight: function (code) {
      var layers = this.layers || {};
      Object.keys(layers).forEach(function (k) {
        layers[k].setStyle({weight: k === code ? 3 : 0.6, color: k === code ? "#d55e00" : "#333"});
      });
      if (layers[code]) { layers[code].bringToFront(); }
    },

    select: function (code) {
      var self = this;
      var panel = this.panel;
      if (!panel || !code) { return; }
      this.highlight(code);
      var params = Object.assign({}, this.params, {code: code});
      panel.textContent = "";
      panel.appendChild(el("p", "text-muted", "Chargement des taxons…"));
      fetch(this.options.taxons_url + "?" + query(params), {credentials: "same-origin", headers: {Accept: "application/json"}})
        .then(function (response) {
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.json();
        })
        .then(function (body) {
          var r = body.result;
          panel.textContent = "";
          panel.appendChild(el("h2", "", r.nom === r.code ? r.code : r.nom + " (" + r.code + ")"));
          panel.appendChild(el("p", "", plural(r.nb_taxons, "taxon") + ", " + plural(r.total_obs, "observation") + "."));
          if (r.taxons.length) { panel.appendChild(taxaTable(r, self.options.taxon_base)); }
          panel.setAttribute("data-code", r.code);
          var url = new URL(window.location.href);
          url.searchParams.set("cellule", r.code);
          url.hash = "";
          window.history.replaceState(null, "", url.toString());
        })
        .catch(function () {
          panel.textContent = "";
          var cell = THIS_CELL[self.niveau] || "cette cellule";
          panel.appendChild(el("div", "alert alert-warning", "Les taxons de " + cell + " n'ont pas pu être chargés."));
        });
    }
  };
});

this.ckan.module("sinp-carte-taxon-search", function () {
  "use strict";

  return {
    options: {url: null},

    initialize: function () {
      var input = document.getElementById("sinp-carte-taxon");
      var list = document.getElementById("sinp-carte-taxon-liste");
      var url = this.options.url;
      // on a phone the filters fold away (their summary says how many are active) so that the map shows
      var box = document.getElementById("sinp-carte-filtres-box");
      if (box && window.matchMedia && window.matchMedia("(max-width: 575px)").matches) { box.open = false; }
      if (!input || !list || !url) { return; }
      var timer = null;
      var last = "";
      input.addEventListener("input", function () {
        var q = input.value.trim();
        if (timer) { window.clearTimeout(timer); }
        if (q.length < 2 || /^\d+$/.test(q) || q === last) { return; }
        timer = window.setTimeout(function () {
          last = q;
          fetch(url + "?" + new URLSearchParams({q: q, limit: "10"}).toString(),
                {credentials: "same-origin", headers: {Accept: "application/json"}})
            .then(function (response) { return response.ok ? response.json() : {result: []}; })
            .then(function (body) {
              list.textContent = "";
              var seen = {};
              (body.result || []).forEach(function (t) {
                var name = t.cd_nom === t.cd_ref ? t.lb_nom : null;
                if (!name || seen[name]) { return; }
                seen[name] = true;
                var option = document.createElement("option");
                option.value = name;
                option.textContent = t.nom_vern ? t.nom_vern : name;
                list.appendChild(option);
              });
            })
            .catch(function () { list.textContent = ""; });
        }, 250);
      });
    }
  };
});
