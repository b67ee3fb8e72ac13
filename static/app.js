/* Kite Desk: the little JavaScript the pages use. Everything works without it, except the live refresh. */
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

  // Portfolio: fetch the data fragment every few seconds and swap it in, without reloading the page.
  // Paused while the tab is hidden; refreshed at once when it is shown again.
  var box = document.querySelector("[data-live-url]");
  if (!box) { return; }
  var url = box.getAttribute("data-live-url");
  var every = Math.max(1, Number(box.getAttribute("data-live-every")) || 5) * 1000;
  var status = document.getElementById("live-status");
  var statusText = status && status.querySelector("[data-live-text]");
  var liveText = status ? status.getAttribute("data-live-message") || "" : "";
  var timer = null;
  var busy = false;
  var stopped = false;

  function show(state, text) {
    if (!status) { return; }
    status.setAttribute("data-state", state);
    statusText.textContent = text;
  }

  // Live only when everything was read: data that could not be fetched is never passed off as live.
  function showFreshness() {
    if (box.querySelector('[data-incomplete="yes"]')) {
      show("error", "Refreshing every " + every / 1000 + " s, but some data could not be read (see below)");
    } else {
      show("live", liveText);
    }
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = null;
    if (!stopped && !document.hidden) { timer = window.setTimeout(refresh, every); }
  }

  function refresh() {
    if (busy || stopped || document.hidden) { return; }
    busy = true;
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (response.redirected || response.status === 401 || response.status === 403) {
          // Signed out of Kite Desk (e.g. in another tab): stop instead of polling a login page.
          stopped = true;
          show("error", "Signed out: reload the page to sign in again.");
          return null;
        }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        if (html === null) { return; }
        box.innerHTML = html;
        box.setAttribute("data-refreshed", String(Date.now()));
        showFreshness();
      })
      .catch(function (error) {
        show("error", "Could not refresh (" + error.message + "); trying again in a few seconds.");
      })
      .then(function () {
        busy = false;
        schedule();
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      window.clearTimeout(timer);
      timer = null;
      if (!stopped) { show("paused", "Paused while this tab is hidden"); }
    } else if (!stopped) {
      showFreshness();
      refresh();
    }
  });

  schedule();
})();
