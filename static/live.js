/* Kite Desk: the live parts of the Portfolio and Orders pages.
 *
 * Both pages open the user's event stream (Server-Sent Events, GET /kite/stream). The Portfolio page
 * streams only while the stream is open and the ticker of every account shown says "connected" (it says
 * so every few seconds); otherwise it polls its data fragment every few seconds, as it did before. The
 * status line says which: "Live (streaming)" or "Polling every 5 s". Order updates (the ticker, Kite's
 * postbacks) change the Orders page's rows as they happen; a rejected or cancelled order gets a notice.
 */
(function () {
  "use strict";

  var STALE_AFTER = 3; // ticker states missed before it counts as gone
  var money = new Intl.NumberFormat("en-IN", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

  function signed(value, suffix) {
    if (value === null || !isFinite(value)) { return '<span class="muted">—</span>'; }
    var cls = value > 0 ? "up" : value < 0 ? "down" : "";
    var rounded = Math.round(value * 100) / 100;
    return '<span class="' + cls + '">' + (rounded > 0 ? "+" : "") + money.format(rounded) + suffix + "</span>";
  }

  function numberAttr(el, name) {
    var v = el.getAttribute(name);
    return v === null || v === "" ? NaN : Number(v);
  }

  // One stream per page: callbacks for its events and its state.
  function openStream(url, handlers) {
    var source = null;
    var retry = null;
    function connect() {
      retry = null;
      source = new EventSource(url);
      source.addEventListener("open", function () { handlers.state("open"); });
      source.addEventListener("error", function () {
        if (source.readyState === EventSource.CLOSED) {
          // Refused (signed out, 503 under WSGI) or gone: try again later; the page polls meanwhile.
          handlers.state("closed");
          if (retry === null) { retry = window.setTimeout(connect, 30000); }
        } else {
          handlers.state("reconnecting");
        }
      });
      ["hello", "tick", "ticker", "order", "overflow"].forEach(function (name) {
        source.addEventListener(name, function (message) {
          var data;
          try { data = JSON.parse(message.data); } catch (e) { return; }
          if (handlers[name]) { handlers[name](data); }
        });
      });
    }
    connect();
    return {
      close: function () {
        if (retry !== null) { window.clearTimeout(retry); retry = null; }
        if (source) { source.close(); source = null; }
      },
      reopen: function () { if (!source || source.readyState === EventSource.CLOSED) { this.close(); connect(); } },
    };
  }

  // --- Portfolio ---------------------------------------------------------------------------------------
  function portfolio(box) {
    var url = box.getAttribute("data-live-url");
    var every = Math.max(1, Number(box.getAttribute("data-live-every")) || 5) * 1000;
    var accounts = (box.getAttribute("data-accounts") || "").split(",").filter(Boolean);
    var status = document.getElementById("live-status");
    var statusText = status && status.querySelector("[data-live-text]");
    var timer = null, busy = false, stopped = false, streaming = false, streamOpen = false;
    var tickers = {}; // account id -> {state, at, every}
    var prices = {}; // "EXCHANGE:SYMBOL" -> {price, at}
    var pendingRefresh = null;

    function show(state, text) {
      if (!status) { return; }
      status.setAttribute("data-state", state);
      status.setAttribute("data-mode", streaming ? "streaming" : "polling");
      statusText.textContent = text;
    }

    // Live only when everything was read: data that could not be fetched is never passed off as live.
    function showFreshness() {
      if (stopped) { return; }
      if (document.hidden) { show("paused", "Paused while this tab is hidden"); return; }
      var incomplete = box.querySelector('[data-incomplete="yes"]');
      var how = streaming ? "Live (streaming)" : "Polling every " + every / 1000 + " s";
      if (incomplete) {
        show("error", how + ", but some data could not be read (see below)");
      } else {
        show("live", how);
      }
    }

    function tickerFresh() {
      if (!streamOpen || accounts.length === 0) { return false; }
      var now = Date.now();
      return accounts.every(function (id) {
        var t = tickers[id];
        return t && t.state === "connected" && now - t.at < STALE_AFTER * Math.max(1, t.every || 5) * 1000;
      });
    }

    function schedule() {
      window.clearTimeout(timer);
      timer = null;
      if (!stopped && !streaming && !document.hidden) { timer = window.setTimeout(refresh, every); }
    }

    function decide() {
      var should = tickerFresh() && !document.hidden;
      if (should !== streaming) {
        streaming = should;
        box.setAttribute("data-mode", streaming ? "streaming" : "polling");
        if (streaming) { window.clearTimeout(timer); timer = null; refresh(); } else { schedule(); }
      }
      showFreshness();
    }

    function refresh() {
      if (busy || stopped || document.hidden) { return; }
      busy = true;
      var started = Date.now();
      fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) {
          if (response.redirected || response.status === 401 || response.status === 403) {
            // Signed out of Kite Desk (e.g. in another tab): stop instead of polling a login page.
            stopped = true;
            if (stream) { stream.close(); }
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
          // Ticks that came while the fragment was on its way are newer than its prices.
          Object.keys(prices).forEach(function (key) {
            if (prices[key].at >= started) { applyPrice(key, prices[key].price); }
          });
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

    function refreshSoon() {
      if (pendingRefresh !== null) { return; }
      pendingRefresh = window.setTimeout(function () { pendingRefresh = null; refresh(); }, 300);
    }

    // A new last price: the rows of that instrument, then the totals, from the figures the server rendered.
    function applyPrice(key, price) {
      var parts = key.split(":");
      var selector = '[data-exchange="' + CSS.escape(parts[0]) + '"][data-symbol="' + CSS.escape(parts[1]) + '"]';
      var changed = false;
      box.querySelectorAll("table.holdings tr" + selector).forEach(function (row) {
        var qty = numberAttr(row, "data-quantity"), avg = numberAttr(row, "data-average");
        var last = numberAttr(row, "data-last"), day = numberAttr(row, "data-day");
        if (!isFinite(qty) || !isFinite(avg) || !isFinite(last) || !isFinite(day) || last === price) { return; }
        day += qty * (price - last);
        var invested = qty * avg, value = qty * price, pnl = value - invested;
        var perShareDay = qty ? day / qty : 0, close = price - perShareDay;
        row.setAttribute("data-last", String(price));
        row.setAttribute("data-day", String(day));
        row.querySelector('[data-field="last_price"]').textContent = money.format(price);
        row.querySelector('[data-field="value"]').textContent = money.format(value);
        row.querySelector('[data-field="pnl"]').innerHTML =
          signed(pnl, "") + "<small>" + signed(invested ? pnl / invested * 100 : null, "%") + "</small>";
        row.querySelector('[data-field="day"]').innerHTML =
          signed(day, "") + "<small>" + signed(close ? perShareDay / close * 100 : null, "%") + "</small>";
        row.setAttribute("data-ticked", String(Date.now()));
        changed = true;
      });
      box.querySelectorAll("table.positions tr" + selector).forEach(function (row) {
        var qty = numberAttr(row, "data-quantity"), last = numberAttr(row, "data-last");
        var pnl = numberAttr(row, "data-pnl"), multiplier = numberAttr(row, "data-multiplier");
        if (!isFinite(qty) || !isFinite(last) || !isFinite(pnl) || last === price) { return; }
        pnl += qty * (price - last) * (isFinite(multiplier) ? multiplier : 1);
        row.setAttribute("data-last", String(price));
        row.setAttribute("data-pnl", String(pnl));
        row.querySelector('[data-field="last_price"]').textContent = money.format(price);
        row.querySelector('[data-field="pnl"]').innerHTML = signed(pnl, "");
        row.setAttribute("data-ticked", String(Date.now()));
      });
      if (changed) { retotal(); }
    }

    // The totals as kite.selectors.portfolio_summary makes them, over the holdings rows on the page (the
    // accounts that were read). Totals the server could not make (shown as —) stay so.
    function retotal() {
      var invested = 0, value = 0, day = 0;
      box.querySelectorAll("table.holdings tbody tr").forEach(function (row) {
        var qty = numberAttr(row, "data-quantity");
        invested += qty * numberAttr(row, "data-average");
        value += qty * numberAttr(row, "data-last");
        day += numberAttr(row, "data-day");
      });
      if (!isFinite(invested + value + day)) { return; }
      var put = function (name, html) {
        var el = box.querySelector('[data-total="' + name + '"]');
        if (el && !el.querySelector(".muted")) { el.innerHTML = html; return el; }
        return null;
      };
      var valueEl = box.querySelector('[data-total="value"]');
      if (valueEl && !valueEl.querySelector(".muted")) { valueEl.textContent = "₹" + money.format(value); }
      var pnlEl = put("pnl", signed(value - invested, ""));
      if (pnlEl && pnlEl.nextElementSibling) {
        pnlEl.nextElementSibling.innerHTML = signed(invested ? (value - invested) / invested * 100 : null, "%");
      }
      var dayEl = put("day", signed(day, ""));
      if (dayEl && dayEl.nextElementSibling) {
        dayEl.nextElementSibling.innerHTML = signed(value - day ? day / (value - day) * 100 : null, "%");
      }
      box.setAttribute("data-ticked", String(Date.now()));
    }

    var stream = openStream(box.getAttribute("data-stream-url"), {
      state: function (state) {
        streamOpen = state === "open";
        decide();
      },
      ticker: function (data) {
        tickers[String(data.account_id)] = { state: data.state, at: Date.now(), every: data.every };
        decide();
      },
      tick: function (data) {
        if (typeof data.last_price !== "number") { return; }
        var key = data.exchange + ":" + data.tradingsymbol;
        prices[key] = { price: data.last_price, at: Date.now() };
        applyPrice(key, data.last_price);
      },
      order: function () { refreshSoon(); }, // a fill changes holdings, positions and margins
      overflow: function () { refreshSoon(); },
    });
    window.setInterval(decide, 1000); // a ticker that stops saying "connected" is noticed within seconds

    document.addEventListener("visibilitychange", function () {
      if (document.hidden) {
        window.clearTimeout(timer);
        timer = null;
        stream.close();
        streamOpen = false;
        streaming = false;
        if (!stopped) { show("paused", "Paused while this tab is hidden"); }
      } else if (!stopped) {
        stream.reopen();
        showFreshness();
        refresh();
      }
    });

    showFreshness();
    schedule();
  }

  // --- Orders ------------------------------------------------------------------------------------------
  function orders(status) {
    var accountId = status.getAttribute("data-account");
    var statusText = status.querySelector("[data-live-text]");
    var notices = document.getElementById("order-notices");
    var streamOpen = false, ticker = null;

    function showState() {
      var fresh = ticker && ticker.state === "connected" &&
        Date.now() - ticker.at < STALE_AFTER * Math.max(1, ticker.every || 5) * 1000;
      if (streamOpen && fresh) {
        status.setAttribute("data-state", "live");
        statusText.textContent = "Live (streaming): order updates appear as they happen";
      } else {
        status.setAttribute("data-state", "paused");
        statusText.textContent = streamOpen
          ? "Not live: Kite's ticker is not connected for this account; reload the page for the latest status"
          : "Not live: reload the page for the latest status";
      }
    }

    function cell(text, label, cls) {
      var td = document.createElement("td");
      td.setAttribute("data-label", label);
      if (cls) { td.className = cls; }
      td.textContent = text;
      return td;
    }

    function ordersTable() {
      var table = document.querySelector("table.orders");
      if (table) { return table; }
      var empty = document.querySelector('[data-empty="orders"]');
      if (!empty) { return null; }
      table = document.createElement("table");
      table.className = "table rtable orders";
      table.innerHTML = "<thead><tr><th>Time</th><th>Instrument</th><th>Type</th><th class=\"num\">Qty.</th>" +
        "<th class=\"num\">Price</th><th>Status</th></tr></thead><tbody></tbody>";
      empty.replaceWith(table);
      return table;
    }

    function setStatus(row, order) {
      var td = row.querySelector('[data-field="status"]');
      var badge = document.createElement("span");
      badge.className = "badge order-" + String(order.status || "").toLowerCase().replace(/ /g, "");
      badge.textContent = order.status || "";
      td.replaceChildren(badge);
      if (order.status_message) {
        var note = document.createElement("small");
        note.className = "muted block";
        note.textContent = order.status_message;
        td.appendChild(note);
      }
      row.setAttribute("data-status", order.status || "");
    }

    function apply(order) {
      var row = document.querySelector('tr[data-order-id="' + CSS.escape(String(order.order_id)) + '"]');
      if (!row) {
        var table = ordersTable();
        if (!table) { return; }
        row = document.createElement("tr");
        row.setAttribute("data-order-id", order.order_id);
        var time = String(order.order_timestamp || "").slice(11);
        var instrument = cell("", "Instrument", "instrument");
        var strong = document.createElement("strong");
        strong.textContent = order.tradingsymbol || "";
        var exchange = document.createElement("span");
        exchange.className = "exchange";
        exchange.textContent = order.exchange || "";
        instrument.append(strong, " ", exchange);
        var status = cell("", "Status");
        status.setAttribute("data-field", "status");
        row.append(cell(time, "Time", "time"), instrument,
          cell((order.transaction_type || "") + " " + (order.order_type || "") + " · " + (order.product || ""), "Type"),
          cell("", "Qty.", "num"), cell("", "Price", "num"), status);
        table.querySelector("tbody").prepend(row);
        var count = table.closest("section") && table.closest("section").querySelector(".count");
        if (count) { count.textContent = String(table.querySelectorAll("tbody tr").length); }
      }
      var cells = row.querySelectorAll("td");
      if (cells.length >= 5 && order.quantity !== undefined) {
        cells[3].textContent = (order.filled_quantity || 0) + " / " + order.quantity;
        var price = order.average_price || order.price;
        cells[4].textContent = price ? money.format(price) : "MKT";
      }
      setStatus(row, order);
      row.setAttribute("data-updated", String(Date.now()));
    }

    function notify(event) {
      var order = event.order;
      var verb = order.status === "REJECTED" ? "was rejected" : "was cancelled";
      var note = document.createElement("div");
      note.className = "msg msg-error";
      note.setAttribute("role", "alert");
      note.setAttribute("data-order-notice", order.order_id);
      note.textContent = "Order " + order.order_id + " (" + [order.transaction_type, order.quantity, "×",
        (order.exchange || "") + ":" + (order.tradingsymbol || "")].join(" ") + ") on " + (event.account || "the account") +
        " " + verb + " by Kite" + (order.status_message ? ": " + order.status_message : ".");
      var old = notices.querySelector('[data-order-notice="' + CSS.escape(String(order.order_id)) + '"]');
      if (old) { old.replaceWith(note); } else { notices.prepend(note); }
    }

    openStream(status.getAttribute("data-stream-url"), {
      state: function (state) { streamOpen = state === "open"; showState(); },
      ticker: function (data) {
        if (String(data.account_id) !== accountId) { return; }
        ticker = { state: data.state, at: Date.now(), every: data.every };
        showState();
      },
      order: function (event) {
        if (String(event.account_id) !== accountId || !event.order || !event.order.order_id) { return; }
        apply(event.order);
        if (event.order.status === "REJECTED" || event.order.status === "CANCELLED") { notify(event); }
      },
    });
    window.setInterval(showState, 1000);
  }

  var box = document.querySelector("#portfolio-data[data-live-url]");
  if (box) { portfolio(box); }
  var ordersStatus = document.getElementById("orders-live");
  if (ordersStatus) { orders(ordersStatus); }
})();
