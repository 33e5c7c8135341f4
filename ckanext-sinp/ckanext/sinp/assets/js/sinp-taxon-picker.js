/* Taxon picker of the ecological target: searches TAXREF (sinp_taxon_search) and adds the chosen CD_NOM
 * to the target field.
 *
 * <input list="…" data-module="sinp-taxon-picker" data-module-url="/api/3/action/sinp_taxon_search"
 *        data-module-target="field-…">
 */
this.ckan.module("sinp-taxon-picker", function () {
  "use strict";

  return {
    options: {url: null, target: null},

    initialize: function () {
      var q = this.el[0];
      var list = q.list || document.getElementById(q.getAttribute("list"));
      var target = document.getElementById(this.options.target);
      var url = this.options.url;
      if (!list || !target || !url) { return; }
      var timer = null, found = {};
      q.addEventListener("input", function () {
        var text = q.value.trim();
        var match = found[text];
        if (match) {  // a name was chosen in the list
          var codes = target.value.split(/[,;]\s*/).filter(Boolean);
          if (codes.indexOf(String(match)) < 0) { codes.push(String(match)); }
          target.value = codes.join(", ");
          target.dispatchEvent(new Event("input", {bubbles: true}));
          q.value = "";
          return;
        }
        clearTimeout(timer);
        if (text.length < 2) { return; }
        timer = setTimeout(function () {
          fetch(url + "?limit=15&q=" + encodeURIComponent(text), {credentials: "same-origin"})
            .then(function (r) { return r.json(); })
            .then(function (body) {
              var options = [];
              found = {};
              (body.result || []).forEach(function (t) {
                var label = t.nom_complet + (t.nom_vern ? " — " + t.nom_vern : "") + " (" + t.cd_nom + ")";
                found[label] = t.cd_nom;
                var option = document.createElement("option");
                option.value = label;  // an attribute, never HTML
                options.push(option);
              });
              list.replaceChildren.apply(list, options);
            });
        }, 250);
      });
    }
  };
});
