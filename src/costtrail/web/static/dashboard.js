// costtrail dashboard: draws the charts the server sent, keeps filters in the URL,
// and signs in from a ready link whose key is in the #fragment (never sent to a server log).
(function () {
  "use strict";

  var LAYOUT = {
    margin: { l: 56, r: 16, t: 8, b: 40 },
    font: { family: "system-ui, sans-serif", size: 12, color: "#1f2933" },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    legend: { orientation: "h", y: -0.18 },
    hovermode: "closest"
  };

  function merge(base, extra) {
    var out = {}, k;
    for (k in base) { out[k] = base[k]; }
    for (k in extra) { out[k] = extra[k]; }
    return out;
  }

  function drawCharts() {
    if (typeof Plotly === "undefined") { return; }
    var blocks = document.querySelectorAll("script[data-chart]");
    Array.prototype.forEach.call(blocks, function (block) {
      var target = document.getElementById(block.getAttribute("data-chart"));
      var figure = JSON.parse(block.textContent);
      Plotly.newPlot(target, figure.data, merge(LAYOUT, figure.layout || {}), {
        displaylogo: false, responsive: true
      }).then(function () { target.setAttribute("data-rendered", "1"); });
    });
  }

  function wireFilters() {
    var form = document.getElementById("filters");
    if (!form) { return; }
    form.addEventListener("change", function (event) {
      var params = new URLSearchParams();
      Array.prototype.forEach.call(form.elements, function (el) {
        if (!el.name || el.disabled || !el.value) { return; }
        if (el.name === "range" && el.value === "custom") { return; }
        // a new preset replaces a custom since/until range
        if ((el.name === "since" || el.name === "until") && event.target.name === "range") { return; }
        params.set(el.name, el.value);
      });
      if (params.get("range") === "30d") { params.delete("range"); }
      var query = params.toString();
      window.location.assign(form.getAttribute("action") + (query ? "?" + query : ""));
    });
  }

  function signInFromLink() {
    var form = document.getElementById("login-form");
    if (!form || window.location.hash.indexOf("key=") < 0) { return; }
    var key = new URLSearchParams(window.location.hash.slice(1)).get("key");
    history.replaceState(null, "", window.location.pathname + window.location.search);
    if (key && !document.getElementById("login-error")) {
      document.getElementById("key").value = key;
      form.submit();
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    signInFromLink();
    wireFilters();
    drawCharts();
  });
})();
