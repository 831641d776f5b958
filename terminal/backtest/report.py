"""A self-contained HTML report of a backtest run (statistics, equity curve as inline SVG, trades), and the
run's trades as CSV."""

from __future__ import annotations

import csv
import html
import io
import math
from typing import Any

from terminal.analytics import catalogue
from terminal.domain import Provenance
from terminal.domain.provenance import data_warning


def _polyline(values: list[float], width: int, height: int, color: str, low: float, high: float) -> str:
    if len(values) < 2 or high <= low:
        return ""
    step = width / (len(values) - 1)
    points = " ".join(f"{i * step:.1f},{height - (v - low) / (high - low) * height:.1f}" for i, v in enumerate(values))
    return f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{points}"/>'


def render_html(run: dict[str, Any]) -> str:
    """``run`` is ``result_to_json(result)``; returns one HTML page with no external files."""
    stats = run.get("statistics", {})
    equity = [v for _, v in run.get("equity", [])]
    bench = [v for _, v in run.get("benchmark", [])]
    every = max(1, len(equity) // 800)
    equity, bench = equity[::every], bench[::every]
    values = [v for v in equity + bench if v is not None and math.isfinite(v)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    svg = (f'<svg width="900" height="300" viewBox="0 0 900 300" style="background:#fafafa">'
           f'{_polyline(bench, 900, 300, "#9ca3af", low, high)}{_polyline(equity, 900, 300, "#1f6feb", low, high)}</svg>')
    rows = "".join(f'<tr><td title="{html.escape(catalogue.statistic(k).definition)}">'
                   f"{html.escape(catalogue.statistic(k).label)}</td>"
                   f"<td>{html.escape(catalogue.format_value(k, stats[k]))}</td></tr>"
                   for k in catalogue.ordered(list(stats)))
    trades = "".join(
        f"<tr><td>{html.escape(t['symbol'])}</td><td>{t['entry_time'][:19]}</td><td>{t['entry_price']:.4f}</td>"
        f"<td>{t['exit_time'][:19]}</td><td>{t['exit_price']:.4f}</td><td>{t['size']:g}</td><td>{t['pnl']:,.2f}</td></tr>"
        for t in run.get("trades", []))
    title = html.escape(f"{run.get('strategy_name', '')} · {run.get('engine', '')} · {run.get('params', {})}")
    provenance = Provenance.parse(run.get("data_provenance"))
    warning = data_warning(provenance)
    banner = (f'<p class="data-warning" style="background:#fde68a;border:2px solid #b45309;padding:8px 12px;'
              f'font-weight:bold">{html.escape(warning[0].upper() + warning[1:])}</p>' if warning else "")
    source = f"<p>Data: {html.escape(provenance.label)}</p>"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:24px}}table{{border-collapse:collapse}}td,th{{padding:2px 10px;
border-bottom:1px solid #eee;text-align:right}}td:first-child{{text-align:left}}</style></head><body>
<h1>{title}</h1>{banner}{source}<p>Equity (blue) against buy-and-hold (grey).</p>{svg}
<h2>Statistics</h2><p>Hover a statistic for its definition.</p><table>{rows}</table>
<h2>Trades</h2><table><tr><th>symbol</th><th>entry</th><th>price</th><th>exit</th><th>price</th><th>size</th>
<th>P&amp;L</th></tr>{trades}</table><p>{html.escape(run.get('notes', ''))}</p></body></html>"""


TRADE_COLUMNS = ("symbol", "side", "size", "entry_time", "entry_price", "exit_time", "exit_price", "pnl",
                 "return_pct", "bars_held", "open")


def trades_csv(run: dict[str, Any]) -> str:
    """One row per round trip, times in ISO 8601 UTC, prices and P&L as plain numbers (a spreadsheet reads
    them); ``open`` is 1 for a position still open at the end, marked to the last close."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRADE_COLUMNS)
    for t in run.get("trades", []):
        size = float(t["size"])
        entry, exit_ = float(t["entry_price"]), float(t["exit_price"])
        change = (exit_ / entry - 1) * (1 if size > 0 else -1) * 100 if entry else math.nan
        held = t["exit_bar"] - t["entry_bar"] if "exit_bar" in t and "entry_bar" in t else ""
        writer.writerow([t["symbol"], "long" if size > 0 else "short", f"{abs(size):g}", t["entry_time"],
                         repr(entry), t["exit_time"], repr(exit_), f"{float(t['pnl']):.2f}",
                         "" if not math.isfinite(change) else f"{change:.4f}", held, int(bool(t.get("open")))])
    return out.getvalue()
