/* History page: the portfolio's value at each day's close, drawn by Chart.js (static/vendor/chartjs). The
   numbers are in the page (a JSON data block, and the table under the chart), so nothing is fetched. */
(function () {
  "use strict";
  var canvas = document.getElementById("history-chart");
  var source = document.getElementById("history-chart-data");
  if (!canvas || !source || typeof window.Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var rupees = new Intl.NumberFormat("en-IN", { style: "currency", currency: "INR", maximumFractionDigits: 2 });
  var chart = new window.Chart(canvas, {
    type: "line",
    data: {
      labels: data.labels,
      datasets: [
        { label: "Value at the close", data: data.value, borderColor: "#2f6fed", backgroundColor: "#2f6fed",
          tension: 0.2, pointRadius: 3 },
        { label: "Invested", data: data.invested, borderColor: "#98a2b3", backgroundColor: "#98a2b3",
          borderDash: [6, 4], pointRadius: 0, tension: 0 }
      ]
    },
    options: {
      animation: false,
      interaction: { mode: "index", intersect: false },
      scales: { y: { ticks: { callback: function (v) { return rupees.format(v); } } } },
      plugins: { tooltip: { callbacks: { label: function (item) {
        return item.dataset.label + ": " + rupees.format(item.parsed.y);
      } } } }
    }
  });
  canvas.setAttribute("data-chart-ready", String(chart.data.labels.length));
})();
