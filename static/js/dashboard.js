// KBTC dashboard: charts (lightweight-charts, vendored), JSON ticks from the dashboard socket,
// and reconnect-after-any-close. HTML partials are swapped by htmx's ws extension by id.
(function () {
  "use strict";
  var charts = {};
  window.kbtcCharts = charts;  // the series, for the browser test and a curious operator

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

  // The equity chart shows one lane (the lane tab) as account value or PnL (the value tab):
  // PnL is the bankroll less the lane's initial bankroll, as the API reports it.
  var view = { lane: "paper", value: "account", days: 1, initial: 0, interval: 60 };
  charts.view = view;

  function equityValue(bankroll) {
    return view.value === "pnl" ? Math.round((bankroll - view.initial) * 100) / 100 : bankroll;
  }

  function setEquity(data) {
    if (!charts.equity) { return; }
    view.initial = data.initial_bankroll || 0;
    charts.equityPoints = data.equity;
    charts.equity.setData(data.equity.map(function (p) { return { time: p.time, value: equityValue(p.bankroll) }; }));
    charts.equityChart.timeScale().fitContent();
  }

  function setCandles(data) {
    if (!charts.candles) { return; }
    view.interval = data.interval_s || 60;
    charts.candles.setData(data.candles);
    charts.ema5.setData(data.ema5);
    charts.ema20.setData(data.ema20);
    charts.btcChart.timeScale().fitContent();
    var label = document.getElementById("btc-interval");
    if (label) { label.textContent = intervalText(view.interval); }
  }

  function intervalText(seconds) {
    var units = [[604800, "week"], [86400, "day"], [3600, "hour"], [60, "minute"]];
    for (var i = 0; i < units.length; i++) {
      if (seconds % units[i][0] === 0) { return (seconds / units[i][0]) + "-" + units[i][1]; }
    }
    return seconds + "-second";
  }

  function initCharts() {
    var LC = window.LightweightCharts;
    var equityEl = document.getElementById("equity-chart");
    var btcEl = document.getElementById("btc-chart");
    if (!LC || !equityEl || !btcEl) { return; }
    view.days = parseInt(equityEl.dataset.days || "1", 10);
    charts.equityChart = makeChart(equityEl);
    charts.equity = charts.equityChart.addSeries(LC.AreaSeries, {
      lineColor: "#2fbf71", topColor: "rgba(47,191,113,0.35)", bottomColor: "rgba(47,191,113,0.02)",
    });
    charts.btcChart = makeChart(btcEl);
    charts.candles = charts.btcChart.addSeries(LC.CandlestickSeries, {});
    charts.ema5 = charts.btcChart.addSeries(LC.LineSeries, { color: "#f5a623", lineWidth: 1 });
    charts.ema20 = charts.btcChart.addSeries(LC.LineSeries, { color: "#4a90e2", lineWidth: 1 });
    charts.emaState = {};
    setEquity(readJson("equity-data") || { equity: [], initial_bankroll: 0 });
    var candles = readJson("candle-data") || { candles: [], ema5: [], ema20: [], interval_s: 60 };
    setCandles(candles);
    rememberEma(candles);
  }

  function rememberEma(data) {
    if (!charts.emaState) { return; }
    charts.lastBar = data.candles.length ? data.candles[data.candles.length - 1] : null;
    [5, 20].forEach(function (span) {
      var series = data["ema" + span];
      charts.emaState[span] = series.length ? series[series.length - 1] : null;
      // the last point's value before the forming bar, to re-derive the EMA on each tick
      charts.emaState["prev" + span] = series.length > 1 ? series[series.length - 2].value : null;
    });
  }

  // A tick is the forming 1-minute bar; on a wider chart it is merged into its bucket.
  function bucketBar(tick) {
    var time = tick.time - (tick.time % view.interval);
    var last = charts.lastBar;
    if (last && last.time === time) {
      if (last.minute !== tick.time) { last.minuteHigh = last.high; last.minuteLow = last.low; }
      var bar = {
        time: time, open: last.open, close: tick.close,
        high: Math.max(last.minuteHigh !== undefined ? last.minuteHigh : last.high, tick.high),
        low: Math.min(last.minuteLow !== undefined ? last.minuteLow : last.low, tick.low),
        minute: tick.time, minuteHigh: last.minuteHigh, minuteLow: last.minuteLow,
      };
      charts.lastBar = bar;
      return bar;
    }
    if (last && time < last.time) { return null; }  // older than the chart: ignore
    charts.lastBar = { time: time, open: tick.open, high: tick.high, low: tick.low, close: tick.close, minute: tick.time };
    return charts.lastBar;
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

  function activate(selector, attribute, value) {
    document.querySelectorAll(selector).forEach(function (b) {
      b.classList.toggle("active", b.dataset[attribute] === value);
    });
  }

  function loadEquity() {
    fetch("/api/equity?mode=" + view.lane + "&days=" + view.days, { credentials: "same-origin" })
      .then(function (r) { return r.json(); }).then(setEquity);
  }

  function loadRange(button) {
    activate(".range button", "range", button.dataset.range);
    view.days = parseInt(button.dataset.days, 10);
    loadEquity();
    fetch("/api/btc-price?days=" + view.days, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (d) { setCandles(d); rememberEma(d); });
  }

  function showLane(lane) {
    view.lane = lane;
    document.body.dataset.lane = lane;
    activate(".lane-tabs button", "lane", lane);
    var label = document.getElementById("equity-lane");
    if (label) { label.textContent = lane; }
    document.getElementById("equity-chart").dataset.lane = lane;
    loadEquity();
  }

  function showValue(value) {
    view.value = value;
    activate(".value-tabs button", "value", value);
    var label = document.getElementById("equity-value-label");
    if (label) { label.textContent = value === "pnl" ? "PnL" : "account value"; }
    setEquity({ equity: charts.equityPoints || [], initial_bankroll: view.initial });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.body.dataset.lane = view.lane;
    initCharts();
    document.querySelectorAll(".range button").forEach(function (b) {
      b.addEventListener("click", function () { loadRange(b); });
    });
    document.querySelectorAll(".lane-tabs button").forEach(function (b) {
      b.addEventListener("click", function () { showLane(b.dataset.lane); });
    });
    document.querySelectorAll(".value-tabs button").forEach(function (b) {
      b.addEventListener("click", function () { showValue(b.dataset.value); });
    });
  });

  // A control's message stays until dismissed or replaced by the next control's.
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target && target.classList && target.classList.contains("dismiss")) {
      var box = document.getElementById("control-message");
      if (box) { box.innerHTML = ""; }
    }
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
      var bar = bucketBar(tick.candle);
      if (bar) {
        charts.candles.update({ time: bar.time, open: bar.open, high: bar.high, low: bar.low, close: bar.close });
        tickEma(bar);
      }
    } else if (tick.chart === "equity" && tick.lane === view.lane) {
      var point = { time: tick.point.time, bankroll: tick.point.value };
      (charts.equityPoints = charts.equityPoints || []).push(point);
      charts.equity.update({ time: point.time, value: equityValue(point.bankroll) });
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
