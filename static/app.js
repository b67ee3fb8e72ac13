/* Kite Desk: the little JavaScript the pages use. Everything works without it. */
(function () {
  "use strict";

  // Copy buttons: <button data-copy="element-id">. The Clipboard API needs a secure context (https or
  // localhost); elsewhere fall back to selecting the text and execCommand("copy").
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var label = button.textContent;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      var text = source.value !== undefined ? source.value : source.textContent;
      var done = function (ok) {
        button.textContent = ok ? "Copied" : "Press Ctrl+C";
        window.setTimeout(function () { button.textContent = label; }, 2000);
      };
      var fallback = function () {
        if (source.select) { source.focus(); source.select(); }
        var ok = false;
        try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
        done(ok);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { done(true); }, fallback);
      } else {
        fallback();
      }
    });
  });

  // <select data-autosubmit>: choosing an option submits its form (a "Show" button stands in without JS).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // Add account: a sandbox account needs no key or secret, so hide those fields while it is chosen.
  var credentials = document.querySelector("[data-credentials]");
  if (credentials) {
    var note = document.querySelector("[data-sandbox-note]");
    var radios = document.querySelectorAll('input[name="environment"]');
    var sync = function () {
      var chosen = document.querySelector('input[name="environment"]:checked');
      var sandbox = chosen && chosen.value === "sandbox";
      credentials.hidden = sandbox;
      if (note) { note.hidden = !sandbox; }
    };
    radios.forEach(function (radio) { radio.addEventListener("change", sync); });
    sync();
  }

  // The Portfolio and Orders pages' live parts (stream, polling) are in live.js, loaded by those pages.
})();
