// QuantTerminal monitor page: reads /api/snapshot, then follows /api/stream and redraws what changed.
//
// Read-only by design: the page only ever sends GET. The stream is read with fetch() and parsed
// here rather than with EventSource, because EventSource cannot send the Authorization header
// a token-protected monitor needs. Updates are coalesced to one redraw per animation frame, and
// only the sections that changed are rebuilt.
"use strict";

(() => {
  const STALE_MS = 20_000; // no event and no keepalive for this long: the data may be old
  const FILL_ROWS = 200; // fills drawn (newest first); the count shows the rest
  const HELD_FILLS = 5_000;
  const HELD_POINTS = 20_000;
  const EVENT_ROWS = 40;
  const MAX_BACKOFF_MS = 30_000;
  const TOKEN_KEY = "quantterminal.monitor.token";
  const SERIES_KEY = "quantterminal.monitor.series";
  const SNAPSHOT_SECTIONS = ["connection", "account", "positions", "orders", "alerts", "runs"];

  const $ = (id) => document.getElementById(id);
  const view = {
    sections: {}, fills: [], fillsTotal: 0, freshFills: new Set(), equity: [],
    updated: 0, lastSeen: 0, stale: false, stream: "connecting", retryAt: 0,
  };
  const dirty = new Set();
  let frame = 0;
  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  let series = sessionStorage.getItem(SERIES_KEY) === "net_liquidation" ? "net_liquidation" : "daily_pnl";

  // --- formatting ----------------------------------------------------------------------------
  const formats = new Map();
  function number(value, min, max, signed = false) {
    if (value === null || value === undefined || !Number.isFinite(value)) return "–";
    const key = `${min}.${max}.${signed}`;
    let format = formats.get(key);
    if (!format) {
      format = new Intl.NumberFormat(undefined, {
        minimumFractionDigits: min, maximumFractionDigits: max, signDisplay: signed ? "exceptZero" : "auto",
      });
      formats.set(key, format);
    }
    return format.format(value);
  }
  const money = (v) => number(v, 2, 2);
  const pnl = (v) => number(v, 2, 2, true);
  const price = (v) => number(v, 2, 4);
  const quantity = (v) => number(v, 0, 4);
  const percent = (v, signed = true) => (Number.isFinite(v) ? `${number(v * 100, 1, 2, signed)} %` : "–");
  const tone = (v) => (!Number.isFinite(v) || v === 0 ? "" : v > 0 ? "up" : "down");
  const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  const hourMinute = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hour12: false });
  const dayTime = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false });
  const parseTime = (text) => (text ? Date.parse(text) : NaN);
  const timeOf = (text, format = clock) => { const t = parseTime(text); return Number.isFinite(t) ? format.format(t) : "–"; };

  // --- small DOM helpers -----------------------------------------------------------------------
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function cell(text, className = "") { return el("td", className, text); }
  function sideCell(side) {
    const td = el("td");
    td.append(el("span", `side side-${String(side).toLowerCase()}`, side));
    return td;
  }
  function emptyRow(columns, text) {
    const td = cell(text, "empty");
    td.colSpan = columns;
    const tr = el("tr");
    tr.append(td);
    return tr;
  }
  function setCount(id, text) { $(id).textContent = text; }

  // --- the model -------------------------------------------------------------------------------
  function apply(name, payload) {
    if (name === "fills" || name === "equity") {
      const streamed = Array.isArray(payload.rows);
      const rows = streamed ? payload.rows : payload[name] || [];
      const reset = !streamed || payload.reset;
      const held = reset ? [] : name === "fills" ? view.fills : view.equity;
      held.push(...rows);
      const cap = name === "fills" ? HELD_FILLS : HELD_POINTS;
      if (held.length > cap) held.splice(0, held.length - cap);
      if (name === "fills") {
        view.fills = held;
        view.fillsTotal = Number.isFinite(payload.total) ? payload.total : held.length;
        view.freshFills = new Set(reset ? [] : rows.map((r) => r.execution_id));
      } else {
        view.equity = held;
      }
      if (rows.length) view.updated = Math.max(view.updated, Date.now());
    } else if (SNAPSHOT_SECTIONS.includes(name)) {
      view.sections[name] = payload;
      const updated = parseTime(payload.updated);
      if (Number.isFinite(updated)) view.updated = Math.max(view.updated, updated);
    } else {
      return;
    }
    dirty.add(name);
    schedule();
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(render);
  }

  function render() {
    frame = 0;
    const names = [...dirty];
    dirty.clear();
    for (const name of names) renderers[name]?.();
    $("updated").textContent = view.updated ? clock.format(view.updated) : "--:--:--";
  }

  // --- header: connection badge, stale state, notices ----------------------------------------------
  function renderStatus() {
    const connection = view.sections.connection || {};
    const state = connection.state || "UNKNOWN";
    const broker = connection.broker || "";
    const badge = $("connection");
    let text, kind;
    if (view.stream === "locked") [text, kind] = ["LOCKED", "unknown"];
    else if (view.stale) [text, kind] = ["STALE", "stale"];
    else if (state === "CONNECTED") {
      [text, kind] = broker === "simulator" ? ["SIMULATOR", "simulator"] : broker === "store" ? ["STORE", "store"] : ["LIVE", "live"];
    } else if (state === "DISCONNECTED" || state === "RECONNECTING") [text, kind] = [state, "down"];
    else if (state === "CONNECTING") [text, kind] = ["CONNECTING", "connecting"];
    else [text, kind] = [view.sections.connection ? "UNKNOWN" : "CONNECTING", "unknown"];
    badge.textContent = text;
    badge.className = `badge badge-${kind}`;
    badge.dataset.state = state;
    badge.dataset.broker = broker;
    const where = [broker === "simulator" ? "simulated broker" : broker, connection.endpoint, connection.message].filter(Boolean);
    badge.title = view.stale ? `no update for over ${STALE_MS / 1000} s` : where.join(" · ");
    const body = document.body.classList;
    body.toggle("stale", view.stale);
    body.toggle("broker-simulator", broker === "simulator");
    body.toggle("broker-ib", broker === "IB");
    body.toggle("link-up", state === "CONNECTED");
    body.toggle("link-down", !view.stale && kind === "down");
    const account = connection.account || view.sections.account?.account || "";
    $("account-id").textContent = account;

    const notice = $("notice");
    let message = "";
    let info = false;
    if (view.stream === "retrying") {
      const seconds = Math.max(0, Math.ceil((view.retryAt - Date.now()) / 1000));
      message = `Lost the monitor's stream — reconnecting${seconds ? ` in ${seconds} s` : "…"}`;
    } else if (view.stale) {
      message = "No update from the terminal for over 20 s: the figures below may be out of date.";
      info = true;
    } else if (kind === "down") {
      const detail = connection.message || "";
      const retry = !/retry/i.test(detail) && Number.isFinite(connection.next_retry_seconds) && connection.next_retry_seconds > 0
        ? ` · retry in ${Math.ceil(connection.next_retry_seconds)} s` : "";
      message = `The terminal's broker connection is ${state.toLowerCase()}${detail ? `: ${detail}` : ""}${retry}`;
    }
    notice.hidden = !message;
    notice.textContent = message;
    notice.classList.toggle("info", info);
    $("stream-state").textContent = {
      up: "live stream", connecting: "connecting…", retrying: "stream reconnecting", locked: "waiting for the token",
    }[view.stream] || "";
  }

  // --- account cards ---------------------------------------------------------------------------
  function renderAccount() {
    const account = view.sections.account || {};
    const card = $("account");
    const put = (field, text, className = "") => {
      const node = card.querySelector(`[data-field="${field}"]`);
      node.textContent = text;
      node.className = `${node.classList.contains("hint") ? "hint" : "value"} ${className}`.trim();
    };
    const net = account.net_liquidation;
    const daily = account.daily_pnl;
    const open = Number.isFinite(net) && Number.isFinite(daily) ? net - daily : NaN;
    put("net_liquidation", money(net));
    put("currency-hint", Number.isFinite(open) ? `open ${money(open)}` : "");
    put("daily_pnl", pnl(daily), tone(daily));
    put("daily_pct", Number.isFinite(open) && open > 0 ? percent(daily / open) : "", tone(daily));
    put("realized_pnl", pnl(account.realized_pnl), tone(account.realized_pnl));
    put("unrealized_pnl", pnl(account.unrealized_pnl), tone(account.unrealized_pnl));
    put("total_cash", money(account.total_cash));
    put("buying_power", money(account.buying_power));
    document.title = Number.isFinite(daily) ? `${pnl(daily)} · QuantTerminal monitor` : "QuantTerminal monitor";
  }

  // --- tables ------------------------------------------------------------------------------------
  function renderPositions() {
    const positions = view.sections.positions?.positions || [];
    const rows = positions.map((p) => {
      const tr = el("tr");
      tr.dataset.symbol = p.symbol;
      const symbol = cell(p.symbol, "sym");
      if (p.sec_type && p.sec_type !== "STK") symbol.append(el("span", "meta", p.sec_type));
      if (p.currency && p.currency !== "USD") symbol.append(el("span", "meta", p.currency));
      const last = cell(price(p.market_price), "num");
      last.append(el("span", "sub", `avg ${price(p.average_cost)}`)); // shown under the price where Avg cost is hidden
      tr.append(symbol, cell(quantity(p.quantity), `num ${tone(p.quantity)}`), cell(price(p.average_cost), "num wide"),
        last, cell(pnl(p.unrealized_pnl), `num ${tone(p.unrealized_pnl)}`), cell(money(p.market_value), "num"));
      return tr;
    });
    $("positions").replaceChildren(...(rows.length ? rows : [emptyRow(6, "No open positions")]));
    const total = $("positions-total");
    const currencies = new Set(positions.map((p) => p.currency));
    if (positions.length > 1 && currencies.size === 1) {
      const sum = (field) => positions.reduce((s, p) => s + (Number.isFinite(p[field]) ? p[field] : 0), 0);
      const unrealized = sum("unrealized_pnl");
      const tr = el("tr");
      tr.append(cell("Total"), cell(""), cell("", "wide"), cell(""), cell(pnl(unrealized), `num ${tone(unrealized)}`),
        cell(money(sum("market_value")), "num"));
      total.replaceChildren(tr);
    } else {
      total.replaceChildren();
    }
    setCount("positions-count", positions.length ? `${positions.length} open` : "");
  }

  function renderOrders() {
    const orders = view.sections.orders?.orders || [];
    const rows = orders.map((o) => {
      const prices = [];
      if (Number.isFinite(o.limit_price)) prices.push(price(o.limit_price));
      if (Number.isFinite(o.stop_price)) prices.push(`stop ${price(o.stop_price)}`);
      const tr = el("tr");
      tr.dataset.order = o.client_order_id;
      const filled = cell(`${quantity(o.filled_quantity)} / ${quantity(o.quantity)}`, `num ${o.filled_quantity ? "" : "muted"}`);
      if (Number.isFinite(o.average_fill_price)) filled.title = `average ${price(o.average_fill_price)}`;
      tr.append(cell(o.symbol, "sym"), sideCell(o.side), cell(quantity(o.quantity), "num"),
        cell(`${o.order_type} ${o.time_in_force || ""}`.trim()), cell(prices.join(" · ") || "–", "num"),
        cell(o.status, "status-pill"), filled, cell(timeOf(o.created || o.updated), "muted"));
      return tr;
    });
    $("orders").replaceChildren(...(rows.length ? rows : [emptyRow(8, "No working orders")]));
    setCount("orders-count", orders.length ? `${orders.length} working` : "");
  }

  function renderFills() {
    const shown = view.fills.slice(-FILL_ROWS).reverse();
    const rows = shown.map((f) => {
      const tr = el("tr", view.freshFills.has(f.execution_id) ? "fresh" : "");
      tr.append(cell(timeOf(f.time)), cell(f.symbol, "sym"), sideCell(f.side), cell(quantity(f.quantity), "num"),
        cell(price(f.price), "num"), cell(money(f.commission), "num muted"),
        cell(f.realized_pnl ? pnl(f.realized_pnl) : "–", `num ${tone(f.realized_pnl)}`));
      return tr;
    });
    $("fills").replaceChildren(...(rows.length ? rows : [emptyRow(7, "No fills today")]));
    const total = view.fillsTotal;
    setCount("fills-count", !total ? "" : total > shown.length ? `latest ${shown.length} of ${number(total, 0, 0)}`
      : `${number(total, 0, 0)} today`);
  }

  function renderAlerts() {
    const section = view.sections.alerts || {};
    const alerts = section.alerts || [];
    const events = (section.events || []).slice(-EVENT_ROWS).reverse();
    const items = [];
    for (const alert of alerts.filter((a) => a.fired)) {
      const li = el("li");
      li.append(el("span", "sev sev-alert", "alert"), el("span", "when", "fired"), el("span", "msg", alert.description));
      items.push(li);
    }
    for (const event of events) {
      const li = el("li");
      const message = el("span", "msg");
      if (event.source) message.append(el("span", "src", event.source));
      message.append(event.message);
      li.append(el("span", `sev sev-${event.severity}`, event.severity), el("span", "when", timeOf(event.time)), message);
      items.push(li);
    }
    if (!items.length) items.push(el("li", "empty", "No fired alerts, warnings or errors"));
    $("alerts").replaceChildren(...items);
    const armed = alerts.filter((a) => !a.fired).length;
    const fired = alerts.length - armed;
    setCount("alerts-count", [armed && `${armed} armed`, fired && `${fired} fired`].filter(Boolean).join(" · "));
  }

  function renderRuns() {
    const runs = view.sections.runs?.runs || [];
    const rows = runs.map((r) => {
      const s = r.statistics || {};
      const tr = el("tr");
      const name = cell(r.strategy, "sym");
      name.append(el("span", "meta", `v${r.version}`));
      const finished = r.status === "done" ? timeOf(r.finished, dayTime) : r.status;
      tr.append(name, cell((r.symbols || []).join(", ")), cell(percent(s.total_return), `num ${tone(s.total_return)}`),
        cell(number(s.sharpe, 2, 2), "num"), cell(percent(s.max_drawdown, false), `num ${s.max_drawdown < 0 ? "down" : ""}`),
        cell(number(s.trades, 0, 0), "num"), cell(finished, "muted"));
      return tr;
    });
    $("runs").replaceChildren(...(rows.length ? rows : [emptyRow(7, "No backtest runs yet")]));
    setCount("runs-count", runs.length ? `last ${runs.length}` : "");
  }

  // --- the P&L curve (chart.js) --------------------------------------------------------------------
  const equityChart = window.createEquityChart({
    $, el, parseTime, pnl, money, tone, clock, hourMinute, rows: () => view.equity, series: () => series,
  });

  const renderers = {
    connection: renderStatus, account: renderAccount, positions: renderPositions, orders: renderOrders,
    fills: renderFills, equity: () => equityChart.render(), alerts: renderAlerts, runs: renderRuns,
  };

  // --- talking to the server -----------------------------------------------------------------------
  const headers = () => (token ? { Authorization: `Bearer ${token}` } : {});
  let controller = null;
  let retryMs = 2000;
  let attempts = 0;
  let retryTimer = 0;

  function setStream(state, delay = 0) {
    view.stream = state;
    view.retryAt = Date.now() + delay;
    dirty.add("connection");
    schedule();
  }

  function askForToken(rejected) {
    controller?.abort();
    clearTimeout(retryTimer);
    $("main").hidden = true;
    $("token-form").hidden = false;
    $("token-error").hidden = !rejected;
    $("token-input").focus();
    setStream("locked");
  }

  async function start() {
    clearTimeout(retryTimer);
    controller?.abort();
    controller = new AbortController();
    setStream("connecting");
    const { signal } = controller;
    try {
      const response = await fetch("/api/snapshot", { headers: headers(), cache: "no-store", signal });
      if (response.status === 401) { askForToken(Boolean(token)); return; }
      if (!response.ok) throw new Error(`snapshot: HTTP ${response.status}`);
      const snapshot = await response.json();
      $("main").hidden = false;
      $("token-form").hidden = true;
      for (const [name, payload] of Object.entries(snapshot)) if (payload && typeof payload === "object") apply(name, payload);
      view.lastSeen = Date.now();
      await follow(signal);
    } catch (error) {
      if (signal.aborted) return;
      retry(error);
    }
  }

  async function follow(signal) {
    const response = await fetch("/api/stream", { headers: headers(), cache: "no-store", signal });
    if (response.status === 401) { askForToken(Boolean(token)); return; }
    if (!response.ok || !response.body) throw new Error(`stream: HTTP ${response.status}`);
    setStream("up");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    const parser = new EventParser((name, data) => {
      attempts = 0;
      try { apply(name, JSON.parse(data)); } catch (error) { console.warn("monitor: bad event", name, error); }
    });
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      view.lastSeen = Date.now();
      parser.feed(value);
      if (parser.retry) retryMs = parser.retry;
    }
    throw new Error("the stream ended");
  }

  function retry(error) {
    const delay = Math.min(MAX_BACKOFF_MS, retryMs * 2 ** attempts) * (0.8 + Math.random() * 0.4);
    attempts = Math.min(attempts + 1, 6);
    console.info(`monitor: ${error.message || error}; reconnecting in ${(delay / 1000).toFixed(1)} s`);
    setStream("retrying", delay);
    retryTimer = setTimeout(start, delay);
  }

  // Server-Sent Events as the HTML standard parses them: lines, fields, a blank line dispatches.
  class EventParser {
    constructor(dispatch) { this.dispatch = dispatch; this.buffer = ""; this.event = ""; this.data = []; this.retry = 0; }

    feed(text) {
      this.buffer += text;
      let start = 0;
      for (;;) {
        const end = this.buffer.slice(start).search(/[\r\n]/);
        if (end < 0) break;
        const at = start + end;
        if (this.buffer[at] === "\r" && at + 1 === this.buffer.length) break; // a \r\n may be split across chunks
        this.line(this.buffer.slice(start, at));
        start = at + (this.buffer[at] === "\r" && this.buffer[at + 1] === "\n" ? 2 : 1);
      }
      this.buffer = this.buffer.slice(start);
    }

    line(text) {
      if (text === "") {
        if (this.data.length) this.dispatch(this.event || "message", this.data.join("\n"));
        this.event = "";
        this.data = [];
        return;
      }
      if (text.startsWith(":")) return; // a comment: the keepalive
      const colon = text.indexOf(":");
      const field = colon < 0 ? text : text.slice(0, colon);
      let value = colon < 0 ? "" : text.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") this.event = value;
      else if (field === "data") this.data.push(value);
      else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
    }
  }

  // --- wiring ----------------------------------------------------------------------------------------
  function checkStale() {
    const stale = view.lastSeen > 0 && Date.now() - view.lastSeen > STALE_MS;
    if (stale !== view.stale || view.stream === "retrying") {
      view.stale = stale;
      dirty.add("connection");
      schedule();
    }
    // The server sends a keepalive every 15 s: a stream that says nothing for 20 s is dead even if its
    // socket looks open (a phone that changed networks), so open a new one.
    if (stale && view.stream === "up") start();
  }

  function pickSeries(name) {
    series = name;
    sessionStorage.setItem(SERIES_KEY, name);
    for (const button of document.querySelectorAll(".segmented button")) {
      button.setAttribute("aria-pressed", String(button.dataset.series === name));
    }
    $("chart-title").textContent = name === "daily_pnl" ? "P&L today" : "Net liquidation today";
    dirty.add("equity");
    schedule();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      token = $("token-input").value.trim();
      sessionStorage.setItem(TOKEN_KEY, token);
      $("token-input").value = "";
      start();
    });
    for (const button of document.querySelectorAll(".segmented button")) {
      button.addEventListener("click", () => pickSeries(button.dataset.series));
    }
    const host = $("equity-chart");
    host.addEventListener("pointermove", equityChart.showCursor);
    host.addEventListener("pointerdown", equityChart.showCursor);
    host.addEventListener("pointerleave", equityChart.hideCursor);
    new ResizeObserver(() => { dirty.add("equity"); schedule(); }).observe(host);
    document.addEventListener("visibilitychange", () => {
      // A phone suspends the page's sockets; coming back, do not wait out the backoff.
      if (document.visibilityState === "visible" && (view.stale || view.stream === "retrying")) start();
    });
    setInterval(checkStale, 1000);
    pickSeries(series);
    for (const name of Object.keys(renderers)) dirty.add(name);
    schedule();
    start();
  });
})();
