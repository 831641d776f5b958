"""A comparison of actual trades with a backtest's, as a table: matched (with slippage), missed, extra.
The journal's "Against a backtest" tab and the Strategies dock's live-against-backtest view both show one."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem

from terminal.domain.journal import Comparison

HEADERS = ["Kind", "Entry", "Side", "Qty", "Backtest", "Actual", "Slippage / unit", "Cost"]


def comparison_table() -> QTableWidget:
    table = QTableWidget(0, len(HEADERS))
    table.setHorizontalHeaderLabels(HEADERS)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(22)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    return table


def show_comparison(table: QTableWidget, summary: QLabel, result: Comparison, what: str,
                    time_format: str = "%Y-%m-%d %H:%M") -> None:
    summary.setText(f"{what}: {len(result.matched)} matched · {len(result.missed)} missed · "
                    f"{len(result.extra)} extra · slippage cost {result.slippage_cost:,.2f}")
    rows = [("matched", m.backtest, f"{m.backtest.entry_price:,.2f} → {m.backtest.exit_price:,.2f}",
             f"{m.actual.entry_price:,.2f} → {m.actual.exit_price:,.2f}",
             f"{m.entry_slippage:+.2f} / {m.exit_slippage:+.2f}", f"{m.slippage_cost:,.2f}") for m in result.matched]
    rows += [("missed", t, f"{t.entry_price:,.2f} → {t.exit_price:,.2f}", "", "", "") for t in result.missed]
    rows += [("extra", t, "", f"{t.entry_price:,.2f} → {t.exit_price:,.2f}", "", "") for t in result.extra]
    table.setRowCount(len(rows))
    for r, (kind, trip, backtest, actual, slip, cost) in enumerate(rows):
        cells = (kind, f"{trip.entry_time:{time_format}}", trip.side, f"{trip.quantity:g}", backtest, actual, slip,
                 cost)
        for c, text in enumerate(cells):
            table.setItem(r, c, QTableWidgetItem(text))
    table.resizeColumnsToContents()
