/* API tokens page, without the inline handlers of CKAN's templates (the Content-Security-Policy forbids them):
 * the « Revoke tokens » button is enabled while a token is ticked and disabled after revoking; a token just
 * created is scrolled into view.
 *
 * <form data-module="sinp-api-tokens" data-module-button="revoke-tokens-button">   (token list)
 * <form data-sinp-scroll-to="token-…">                                              (creation form, after creating)
 */
this.ckan.module("sinp-api-tokens", function () {
  "use strict";

  var installed = false;

  function install(buttonId) {
    if (installed) { return; }
    installed = true;
    function button() { return document.getElementById(buttonId); }
    document.addEventListener("change", function (event) {
      if (event.target.name === "token" && button()) {
        button().disabled = !document.querySelector("input[name=token]:checked");
      }
    });
    document.body.addEventListener("htmx:afterRequest", function (event) {
      if (event.target.closest && event.target.closest("[data-module~='sinp-api-tokens']") && button()) {
        button().disabled = true;
      }
    });
    document.body.addEventListener("htmx:afterSettle", function () {
      var form = document.querySelector("[data-sinp-scroll-to]");
      var row = form && document.getElementById(form.getAttribute("data-sinp-scroll-to"));
      if (row) { row.scrollIntoView(false); form.removeAttribute("data-sinp-scroll-to"); }
    });
  }

  return {
    options: {button: "revoke-tokens-button"},

    initialize: function () {
      install(this.options.button);
    }
  };
});
