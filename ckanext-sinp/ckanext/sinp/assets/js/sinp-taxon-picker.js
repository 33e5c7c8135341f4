/* Taxon picker of the ecological target: a list with search over TAXREF (sinp_taxon_search, select2 of
 * CKAN) that shows names (« Myotis myotis (Borkhausen, 1797) — 60418 ») and writes the chosen CD_NOM,
 * comma-separated, into the text field of the form (which stays the field sent, and the fallback
 * without JavaScript).
 *
 * <select multiple data-module="sinp-taxon-picker" data-module-url="/api/3/action/sinp_taxon_search"
 *         data-module-target="field-…">
 */
this.ckan.module("sinp-taxon-picker", function ($) {
  "use strict";

  return {
    options: {url: null, target: null},

    initialize: function () {
      var select = this.el;
      var target = document.getElementById(this.options.target);
      var url = this.options.url;
      if (!target || !url || !$.fn.select2) { return; }
      var block = select.closest(".sinp-taxon-search");
      var field = $(target).closest(".controls");
      // the picker replaces the text box and the list of names
      $(target).attr("hidden", "hidden").attr("aria-hidden", "true");
      field.find(".sinp-taxon-names").attr("hidden", "hidden");
      block.removeAttr("hidden");

      select.select2({
        width: "100%",
        placeholder: "Chercher un taxon : nom scientifique ou français",
        minimumInputLength: 2,
        language: {
          inputTooShort: function () { return "Tapez au moins deux lettres"; },
          noResults: function () { return "Aucun taxon trouvé"; },
          searching: function () { return "Recherche…"; },
          errorLoading: function () { return "La recherche n'a pas abouti"; },
          removeAllItems: function () { return "Tout retirer"; }
        },
        // the list shows the French name too; the choice keeps « Nom scientifique (auteur) — CD_NOM »
        templateResult: function (item) {
          if (!item.id || !item.vernacular) { return item.text; }
          var span = document.createElement("span");
          span.textContent = item.text + " (" + item.vernacular + ")";  // text, never HTML
          return $(span);
        },
        ajax: {
          url: url,
          dataType: "json",
          delay: 250,
          data: function (params) { return {q: params.term, limit: 20}; },
          processResults: function (body) {
            return {
              results: (body.result || []).map(function (t) {
                return {id: String(t.cd_nom), text: t.nom_complet + " — " + t.cd_nom, vernacular: t.nom_vern || ""};
              })
            };
          }
        }
      });
      select.on("change", function () {
        target.value = (select.val() || []).join(", ");
        target.dispatchEvent(new Event("input", {bubbles: true}));
      });
    }
  };
});
