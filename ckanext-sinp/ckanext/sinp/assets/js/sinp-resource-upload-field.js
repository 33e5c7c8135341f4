/* The buttons of CKAN's resource upload field (Upload / Link / Remove / Clear Upload), without the inline
 * onclick handlers of CKAN's template (templates/package/snippets/resource_upload_field.html).
 *
 * <button data-sinp-check="resource-url-upload" data-sinp-click="field-resource-upload"
 *         data-sinp-focus="…" data-sinp-clear="…">
 */
this.ckan.module("sinp-resource-upload-field", function () {
  "use strict";

  function byId(id) { return id ? document.getElementById(id) : null; }

  return {
    initialize: function () {
      this.el[0].addEventListener("click", function (event) {
        var button = event.target.closest("[data-sinp-check]");
        if (!button) { return; }
        var check = byId(button.getAttribute("data-sinp-check"));
        var clear = byId(button.getAttribute("data-sinp-clear"));
        var click = byId(button.getAttribute("data-sinp-click"));
        var focus = byId(button.getAttribute("data-sinp-focus"));
        if (check) { check.checked = true; }
        if (clear) { clear.value = ""; }
        if (click) { click.click(); }
        if (focus) { focus.focus(); }
      });
    }
  };
});
