// QuantTerminal monitor page: the intraday P&L curve, an SVG drawn from the equity rows at each update,
// with a cursor that reads out the point under the pointer. app.js owns the data and calls render().
"use strict";

window.createEquityChart = (ui) => {
  const { $, el, parseTime, pnl, money, tone, clock, hourMinute } = ui;
  const SVG = "http://www.w3.org/2000/svg";
  const chart = { points: [], x: null, y: null, svg: null, cursor: null, dot: null, tip: null };

  function svg(tag, attributes, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function niceStep(span, count) {
    const raw = span / Math.max(1, count);
    const power = 10 ** Math.floor(Math.log10(raw));
    return [1, 2, 2.5, 5, 10].map((m) => m * power).find((step) => step >= raw) || raw;
  }

  // At most two points (the low and the high) per pixel column, so a full day draws as fast as a minute.
  function thin(points, x, width) {
    if (points.length <= width * 2) return points;
    const kept = [];
    let column = -1;
    let low = null;
    let high = null;
    const flush = () => { if (low) kept.push(...(low.t <= high.t ? [low, high] : [high, low])); };
    for (const p of points) {
      const c = Math.round(x(p.t));
      if (c !== column) { flush(); column = c; low = high = p; continue; }
      if (p.v < low.v) low = p;
      if (p.v > high.v) high = p;
    }
    flush();
    return kept;
  }

  function renderChart() {
    const host = $("equity-chart");
    const width = host.clientWidth;
    const height = host.clientHeight - 6;
    const points = [];
    const series = ui.series();
    for (const row of ui.rows()) {
      const t = parseTime(row.time);
      const v = row[series];
      if (Number.isFinite(t) && Number.isFinite(v)) points.push({ t, v, row });
    }
    chart.points = points;
    const figure = $("chart-last");
    figure.replaceChildren();
    if (points.length < 2 || width < 60 || height < 60) {
      const text = points.length ? "The curve draws from the second point (one every 5 s)."
        : "No P&L points yet — the curve starts with the first account update.";
      host.replaceChildren(el("div", "chart-empty", text));
      chart.svg = null;
      return;
    }
    const first = points[0];
    const last = points[points.length - 1];
    const base = series === "daily_pnl" ? 0
      : Number.isFinite(first.row.daily_pnl) ? first.row.net_liquidation - first.row.daily_pnl : first.v;
    let low = points[0];
    let high = points[0];
    for (const p of points) { if (p.v < low.v) low = p; if (p.v > high.v) high = p; }
    let min = Math.min(low.v, base);
    let max = Math.max(high.v, base);
    if (max - min < 1e-9) { min -= 1; max += 1; }
    const pad = (max - min) * 0.12;
    min -= pad;
    max += pad;
    const format = series === "daily_pnl" ? pnl : money;
    const right = Math.min(84, Math.max(56, format(max).length * 7 + 14));
    const box = { left: 8, right: width - right, top: 8, bottom: height - 22 };
    const x = (t) => box.left + ((t - first.t) / Math.max(1, last.t - first.t)) * (box.right - box.left);
    const y = (v) => box.bottom - ((v - min) / (max - min)) * (box.bottom - box.top);
    chart.x = x;
    chart.y = y;

    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none" });
    const defs = svg("defs", {});
    const yBase = y(base);
    // One line, three colours: green above the base, red below, grey where it runs along it.
    const bands = { up: [0, yBase], down: [yBase, height], flat: [yBase - 1.5, yBase + 1.5] };
    for (const [side, [top, bottom]] of Object.entries(bands)) {
      const clip = svg("clipPath", { id: `clip-${side}` });
      clip.append(svg("rect", { x: 0, y: top, width, height: Math.max(0, bottom - top) }));
      defs.append(clip);
    }
    root.append(defs);

    const step = niceStep(max - min, Math.max(2, Math.round((box.bottom - box.top) / 48)));
    for (let v = Math.ceil(min / step) * step; v <= max; v += step) {
      const py = y(v);
      if (Math.abs(py - y(last.v)) < 14) continue; // the last value's label sits there
      root.append(svg("line", { x1: box.left, x2: box.right, y1: py, y2: py, class: "gridline" }));
      root.append(svg("text", { x: box.right + 6, y: py + 4, class: "axis" }, format(v)));
    }
    const labels = Math.max(1, (box.right - box.left) / 90);
    const seconds = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400]
      .find((s) => (last.t - first.t) / (s * 1000) <= labels) || 28800;
    const stepMs = seconds * 1000;
    const tickFormat = seconds < 60 ? clock : hourMinute;
    for (let t = Math.ceil(first.t / stepMs) * stepMs; t <= last.t; t += stepMs) {
      const px = x(t);
      if (px < box.left + 24 || px > box.right - 24) continue;
      root.append(svg("line", { x1: px, x2: px, y1: box.top, y2: box.bottom, class: "gridline" }));
      root.append(svg("text", { x: px, y: height - 6, class: "axis", "text-anchor": "middle" }, tickFormat.format(t)));
    }
    root.append(svg("line", { x1: box.left, x2: box.right, y1: yBase, y2: yBase, class: "zero" }));

    const drawn = thin(points, x, box.right - box.left);
    const line = drawn.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join("");
    const area = `${line}L${x(last.t).toFixed(1)},${yBase.toFixed(1)}L${x(first.t).toFixed(1)},${yBase.toFixed(1)}Z`;
    for (const side of ["up", "down", "flat"]) {
      if (side !== "flat") root.append(svg("path", { d: area, class: `area-${side}`, "clip-path": `url(#clip-${side})` }));
      root.append(svg("path", { d: line, class: `line-${side}`, fill: "none", "stroke-width": 1.8,
        "stroke-linejoin": "round", "clip-path": `url(#clip-${side})` }));
    }
    const label = (p, text, above) => {
      const px = x(p.t);
      const anchor = px < box.left + 50 ? "start" : px > box.right - 50 ? "end" : "middle";
      root.append(svg("text", { x: px, y: y(p.v) + (above ? -7 : 15), class: "axis", "text-anchor": anchor }, text));
    };
    if (high.v > base) label(high, `H ${format(high.v)}`, true);
    if (low.v < base) label(low, `L ${format(low.v)}`, false);
    const lastSide = last.v > base ? "up" : last.v < base ? "down" : "flat";
    root.append(svg("circle", { cx: x(last.t), cy: y(last.v), r: 3.5, class: `dot dot-${lastSide}` }));
    root.append(svg("text", { x: box.right + 6, y: y(last.v) + 4, class: `axis-strong ${lastSide}` }, format(last.v)));
    if (series === "daily_pnl" && (yBase < box.top + 4 || Math.abs(yBase - y(last.v)) >= 14)) {
      root.append(svg("text", { x: box.right + 6, y: yBase + 4, class: "axis" }, "0"));
    }
    chart.cursor = svg("line", { x1: 0, x2: 0, y1: box.top, y2: box.bottom, class: "cursor", visibility: "hidden" });
    chart.dot = svg("circle", { cx: 0, cy: 0, r: 3.5, class: "dot dot-up", visibility: "hidden" });
    root.append(chart.cursor, chart.dot);
    chart.tip = el("div", "chart-tip");
    chart.tip.hidden = true;
    chart.svg = root;
    chart.format = format;
    chart.base = base;
    host.replaceChildren(root, chart.tip);

    figure.append(el("span", tone(last.v - base), format(last.v)));
    figure.append(el("span", "muted", ` H ${format(high.v)} · L ${format(low.v)}`));
  }

  function pointAt(clientX) {
    const { points, svg: root } = chart;
    if (!root || points.length < 2) return null;
    const rect = root.getBoundingClientRect();
    const px = clientX - rect.left;
    let lo = 0;
    let hi = points.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (chart.x(points[mid].t) < px) lo = mid; else hi = mid;
    }
    return Math.abs(chart.x(points[lo].t) - px) <= Math.abs(chart.x(points[hi].t) - px) ? points[lo] : points[hi];
  }

  function showCursor(event) {
    const p = pointAt(event.clientX);
    if (!p) return;
    const px = chart.x(p.t);
    const py = chart.y(p.v);
    chart.cursor.setAttribute("x1", px);
    chart.cursor.setAttribute("x2", px);
    chart.cursor.setAttribute("visibility", "visible");
    chart.dot.setAttribute("cx", px);
    chart.dot.setAttribute("cy", py);
    chart.dot.setAttribute("class", `dot dot-${p.v > chart.base ? "up" : p.v < chart.base ? "down" : "flat"}`);
    chart.dot.setAttribute("visibility", "visible");
    chart.tip.textContent = `${clock.format(p.t)}  ${chart.format(p.v)}`;
    chart.tip.hidden = false;
    const width = $("equity-chart").clientWidth;
    chart.tip.style.left = `${Math.min(Math.max(0, px - chart.tip.offsetWidth / 2), width - chart.tip.offsetWidth)}px`;
  }

  function hideCursor() {
    if (!chart.svg) return;
    chart.cursor.setAttribute("visibility", "hidden");
    chart.dot.setAttribute("visibility", "hidden");
    chart.tip.hidden = true;
  }

  return { render: renderChart, showCursor, hideCursor };
};
