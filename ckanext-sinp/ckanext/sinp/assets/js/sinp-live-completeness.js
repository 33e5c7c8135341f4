/* Live completeness of the CA/JDD form: mandatory (O) and recommended (R) fields of the SINP standard.
 *
 * <div data-module="sinp-live-completeness" data-module-fields='[{"name": …, "label": …, …}]'>
 */
this.ckan.module("sinp-live-completeness", function () {
  "use strict";

  function filled(field) {
    var selector = field.repeating ? '[name^="' + field.name + '-"]:not([name*="REPEATING"])' : '[name="' + field.name + '"]';
    var inputs = document.querySelectorAll("form " + selector);
    for (var i = 0; i < inputs.length; i++) {
      var el = inputs[i];
      if (el.type === "checkbox" || el.type === "radio") { if (el.checked) { return true; } continue; }
      if (el.tagName === "SELECT" && el.multiple) { if (el.selectedOptions.length) { return true; } continue; }
      if ((el.value || "").trim() !== "") { return true; }
    }
    return false;
  }

  return {
    options: {fields: []},

    initialize: function () {
      var box = this.el[0];
      var fields = Array.isArray(this.options.fields) ? this.options.fields : [];
      function update() {
        var done = 0, missing = [];
        fields.forEach(function (f) {
          // f.auto: filled by the platform when left empty (identifier, creation date)
          if (f.auto || filled(f)) { done++; } else { missing.push(f.label + (f.required ? " *" : "")); }
        });
        box.querySelector(".sinp-count").textContent = done + " / " + fields.length;
        box.querySelector(".sinp-missing").textContent =
          missing.length ? "À compléter : " + missing.join(", ") + " (* obligatoire)." : "Fiche complète.";
        box.className = "alert " + (done === fields.length ? "alert-success" : "alert-info");
      }
      document.addEventListener("input", update);
      document.addEventListener("change", update);
      update();
    }
  };
});
