// KBTC dashboard: charts (lightweight-charts, vendored), JSON ticks from the dashboard socket,
// and reconnect-after-any-close. HTML partials are swapped by htmx's ws extension by id.
(function () {
  "use strict";
  var charts = {};

  function readJson(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function makeChart(el) {
    var LC = window.LightweightCharts;
    return LC.createChart(el, {
      height: 260,
      layout: { background: { color: "#172029" }, textColor: "#c8d0d8", attributionLogo: true },
      grid: { vertLines: { color: "#22303c" }, horzLines: { color: "#22303c" } },
      timeScale: { timeVisible: true, secondsVisible: false },
    });
  }

  function setEquity(points) {
    charts.equity.setData(points.map(function (p) { return { time: p.time, value: p.bankroll }; }));
    charts.equityChart.timeScale().fitContent();
  }

  function setCandles(data) {
    charts.candles.setData(data.candles);
    charts.ema5.setData(data.ema5);
    charts.ema20.setData(data.ema20);
    charts.btcChart.timeScale().fitContent();
  }

  function initCharts() {
    var LC = window.LightweightCharts;
    var equityEl = document.getElementById("equity-chart");
    var btcEl = document.getElementById("btc-chart");
    if (!LC || !equityEl || !btcEl) { return; }
    charts.equityChart = makeChart(equityEl);
    charts.equity = charts.equityChart.addSeries(LC.AreaSeries, {
      lineColor: "#2fbf71", topColor: "rgba(47,191,113,0.35)", bottomColor: "rgba(47,191,113,0.02)",
    });
    charts.btcChart = makeChart(btcEl);
    charts.candles = charts.btcChart.addSeries(LC.CandlestickSeries, {});
    charts.ema5 = charts.btcChart.addSeries(LC.LineSeries, { color: "#f5a623", lineWidth: 1 });
    charts.ema20 = charts.btcChart.addSeries(LC.LineSeries, { color: "#4a90e2", lineWidth: 1 });
    charts.emaState = {};
    setEquity(readJson("equity-data") || []);
    var candles = readJson("candle-data") || { candles: [], ema5: [], ema20: [] };
    setCandles(candles);
    rememberEma(candles);
  }

  function rememberEma(data) {
    [5, 20].forEach(function (span) {
      var series = data["ema" + span];
      charts.emaState[span] = series.length ? series[series.length - 1] : null;
      // the last point's value before the forming bar, to re-derive the EMA on each tick
      charts.emaState["prev" + span] = series.length > 1 ? series[series.length - 2].value : null;
    });
  }

  function tickEma(candle) {
    [5, 20].forEach(function (span) {
      var alpha = 2 / (span + 1);
      var last = charts.emaState[span];
      var base;
      if (last && last.time === candle.time) { base = charts.emaState["prev" + span]; }
      else { base = last ? last.value : null; charts.emaState["prev" + span] = base; }
      var value = base === null ? candle.close : alpha * candle.close + (1 - alpha) * base;
      var point = { time: candle.time, value: Math.round(value * 100) / 100 };
      charts.emaState[span] = point;
      charts["ema" + span].update(point);
    });
  }

  function loadRange(range) {
    document.querySelectorAll(".range button").forEach(function (b) {
      b.classList.toggle("active", b.dataset.range === range);
    });
    var lane = document.getElementById("equity-chart").dataset.lane;
    fetch("/api/equity/?lane=" + lane + "&range=" + range, { credentials: "same-origin" })
      .then(function (r) { return r.json(); }).then(function (d) { setEquity(d.points); });
    fetch("/api/candles/?range=" + range, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (d) { setCandles(d); rememberEma(d); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    initCharts();
    document.querySelectorAll(".range button").forEach(function (b) {
      b.addEventListener("click", function () { loadRange(b.dataset.range); });
    });
  });

  // JSON frames are chart ticks, not HTML: handle them and stop htmx from swapping.
  // The server pushes the newest page of closed trades (after a trade or a reconnect).
  // A reader who filtered or paged the table keeps that view: the push is dropped, and the
  // next change of filter fetches the table afresh.
  function tradesViewIsCustom() {
    var form = document.getElementById("trades-filter");
    if (!form) { return false; }
    var fields = form.querySelectorAll("input, select");
    for (var i = 0; i < fields.length; i++) {
      var field = fields[i];
      if (field.name === "page" ? field.value !== "1" : field.value !== "") { return true; }
    }
    return false;
  }

  document.body.addEventListener("htmx:wsBeforeMessage", function (event) {
    var message = event.detail.message;
    if (typeof message === "string" && message.indexOf('<div id="trades-panel"') === 0) {
      if (tradesViewIsCustom()) { event.preventDefault(); }
      return;
    }
    if (typeof message !== "string" || message.charAt(0) !== "{") { return; }
    event.preventDefault();
    var tick = JSON.parse(message);
    if (!charts.equity) { return; }
    if (tick.chart === "btc" && tick.candle) {
      charts.candles.update(tick.candle);
      tickEma(tick.candle);
    } else if (tick.chart === "equity" && tick.lane === document.getElementById("equity-chart").dataset.lane) {
      charts.equity.update(tick.point);
    }
  });

  function setState(state) {
    var dot = document.getElementById("ws-state");
    if (dot) { dot.className = "dot " + state; dot.title = "live connection: " + state; }
  }
  document.body.addEventListener("htmx:wsOpen", function () { setState("open"); });
  document.body.addEventListener("htmx:wsConnecting", function () { setState("connecting"); });

  // The extension only retries 1006/1011/1012/1013; daphne's idle timeout closes with 1000
  // and a server restart may send 1001. Reconnect after any other close too, except our own
  // 4xxx refusals (not authorised), with a jittered delay. The server re-sends a snapshot.
  var AUTO_RETRIED = [1006, 1011, 1012, 1013];
  document.body.addEventListener("htmx:wsClose", function (event) {
    setState("closed");
    var code = event.detail.event.code;
    if (AUTO_RETRIED.indexOf(code) >= 0 || code >= 4000) { return; }
    var wrapper = event.detail.socketWrapper;
    setTimeout(function () { wrapper.reconnect(); }, 1000 + Math.random() * 2000);
  });
})();
