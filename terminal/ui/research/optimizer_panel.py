"""Optimizer dock: grid search over the editor strategy's declared parameters on all cores, with progress and
cancel; a sortable results table, a 2-D heatmap of the chosen metric, and a walk-forward split that shows how
much of the in-sample result survives out of sample. "Use in editor" hands the chosen parameters back.

Runs stream in from the workers: each is appended to the results model (shown at display rate, sorted by a
proxy) and folded into the heatmap's best-per-cell values, so nothing is rebuilt per run; the heatmap image is
redrawn at most twice a second, and the table is rebuilt only when the run ends or the metric changes.
A grid whose bars are not stored offers to fetch them first (``fetch_offer``), with progress in this dock."""

from __future__ import annotations

import asyncio
import math
import os
import threading

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from terminal.domain import DomainError
from terminal.services.backtests import (
    OptimizationAborted,
    OptimizationCancelled,
    StrategyError,
    best_row,
    grid,
    parse_values,
    rank,
    suggest_values,
)
from terminal.ui.models.coalesce import FlushTimer
from terminal.ui.models.optimizer_results import SORT_ROLE, OptimizerResultsModel, is_number
from terminal.ui.models.optimizer_results import format_stat as _fmt
from terminal.ui.models.optimizer_results import param_value as _value
from terminal.ui.panels.common import spawn
from terminal.ui.research.fetch_offer import MissingDataFetch

METRICS = ("sharpe", "sortino", "calmar", "total_return", "annualised_return", "max_drawdown", "profit_factor",
           "expectancy", "sqn", "win_rate")
MAX_ROWS_SHOWN = 1_000
HEATMAP_HZ = 2.0  # the heatmap image is redrawn at most this often while runs stream in
_TABLE_STATS = ("sharpe", "total_return", "max_drawdown", "trades", "win_rate", "profit_factor")


class OptimizerPanel(QWidget):
    use_params = Signal(dict)

    def __init__(self, session, theme, editor, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.session = session
        self.theme = theme
        self.editor = editor
        self.space_table = QTableWidget(0, 3)
        self.space_table.setHorizontalHeaderLabels(["Vary", "Parameter", "Values (start:stop:step or a,b,c)"])
        self.space_table.verticalHeader().setVisible(False)
        self.space_table.horizontalHeader().setStretchLastSection(True)
        # not "self.metric": an instance attribute named like a C++ virtual (QWidget::metric) is taken by
        # shiboken as its Python override, and grab() then segfaults calling a QComboBox as a function
        self.metric_box = QComboBox()
        self.metric_box.addItems(METRICS)
        self.workers = QSpinBox()
        self.workers.setRange(1, max(1, os.cpu_count() or 1))
        self.workers.setValue(self.workers.maximum())
        self.cluster = QLineEdit()
        self.cluster.setPlaceholderText("Dask cluster tcp://HOST:8786 (empty: this machine)")
        self.cluster.setToolTip("Run the grid on a Dask scheduler's workers (start one with: quant-terminal cluster); "
                                "empty runs it in worker processes here")
        self.walk_forward = QCheckBox("Walk-forward, in-sample %")
        self.walk_forward.setChecked(True)
        self.in_sample = QSpinBox()
        self.in_sample.setRange(10, 90)
        self.in_sample.setValue(70)
        self.run_button = QPushButton("Run grid")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.use_button = QPushButton("Use in editor")
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m runs")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status = QLabel("Vary two parameters to get a heatmap; the strategy and data come from the editor.")
        self.status.setWordWrap(True)
        self.status.setObjectName("preview")
        self.fetcher = MissingDataFetch(session, self.status.setText)
        self.results = OptimizerResultsModel(MAX_ROWS_SHOWN, parent=self)
        self.sorted_results = QSortFilterProxyModel(self)
        self.sorted_results.setSourceModel(self.results)
        self.sorted_results.setSortRole(SORT_ROLE)
        self.results_view = QTableView()
        self.results_view.setModel(self.sorted_results)
        self.results_view.setSortingEnabled(True)
        self.results_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.results_view.verticalHeader().setVisible(False)
        self.x_param = QComboBox()
        self.y_param = QComboBox()
        self.heat = HeatmapView(theme)

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Metric"))
        controls.addWidget(self.metric_box)
        controls.addWidget(QLabel("Workers"))
        controls.addWidget(self.workers)
        controls.addStretch(1)
        # walk-forward on a row of its own: one row of every control made the left side ~550 px wide at
        # least, which left the heatmap too narrow for its numbers in the default layout
        split = QHBoxLayout()
        split.addWidget(self.walk_forward)
        split.addWidget(self.in_sample)
        split.addWidget(self.cluster, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.use_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.space_table, 2)
        left_layout.addLayout(controls)
        left_layout.addLayout(split)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.results_view, 3)
        axes = QHBoxLayout()
        axes.addWidget(QLabel("x"))
        axes.addWidget(self.x_param, 1)
        axes.addWidget(QLabel("y"))
        axes.addWidget(self.y_param, 1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(axes)
        right_layout.addWidget(self.heat, 1)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([560, 460])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.fetcher)
        layout.addWidget(self.status)

        self.table = pd.DataFrame()
        self.names: list[str] = []
        self._rows: list[dict] = []
        self._heat_cells: dict[tuple, float] = {}  # best metric per (x value, y value) on the current axes
        self._heat_axes = ("", "", "")  # metric, x, y the cells are for
        self._progress_timer = FlushTimer(self, self._show_progress)
        self._heat_timer = FlushTimer(self, self._draw_heatmap, HEATMAP_HZ)
        self._space_keys: list[str] = []
        self._cancel = threading.Event()
        self.run_button.clicked.connect(lambda: spawn(self.run(), self.show_error))
        self.cancel_button.clicked.connect(self._cancel.set)
        self.use_button.clicked.connect(self._use_selected)
        self.metric_box.currentTextChanged.connect(lambda _: self._redraw())
        self.x_param.currentTextChanged.connect(lambda _: self._rebuild_heatmap())
        self.y_param.currentTextChanged.connect(lambda _: self._rebuild_heatmap())
        self.heat.cell_clicked.connect(self._select_cell)
        self.editor.editor.editor.textChanged.connect(self._source_changed)
        self.refresh_space()

    # --- the parameter space -----------------------------------------------------------------
    def _source_changed(self) -> None:
        declared = self._declared()
        if declared is not None and list(declared) != self._space_keys:
            self.refresh_space()

    def _declared(self) -> dict | None:
        try:
            return dict(self.session.backtests.declaration(self.editor.source(), self.editor.name()).params)
        except StrategyError:
            return None

    def refresh_space(self) -> None:
        """One row per declared numeric or bool parameter, prefilled with a grid around its default;
        the first two are ticked."""
        declared = self._declared() or {}
        self._space_keys = list(declared)
        rows = [(k, v) for k, v in declared.items() if isinstance(v, int | float) and not isinstance(v, bool)]
        rows += [(k, v) for k, v in declared.items() if isinstance(v, bool)]
        self.space_table.setRowCount(len(rows))
        for row, (key, value) in enumerate(rows):
            vary = QTableWidgetItem()
            vary.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            vary.setCheckState(Qt.CheckState.Checked if row < 2 and value else Qt.CheckState.Unchecked)
            name = QTableWidgetItem(key)
            name.setFlags(Qt.ItemFlag.ItemIsEnabled)
            name.setData(Qt.ItemDataRole.UserRole, value)
            self.space_table.setItem(row, 0, vary)
            self.space_table.setItem(row, 1, name)
            self.space_table.setItem(row, 2, QTableWidgetItem(suggest_values(value)))
        self.space_table.resizeColumnToContents(0)

    def set_space(self, values: dict[str, str]) -> None:
        """Tick exactly the given parameters and set their value specs (as a user would type them)."""
        unknown = set(values) - set(self.space_names())
        if unknown:
            raise DomainError(f"{', '.join(sorted(unknown))}: not a numeric or bool parameter of {self.editor.name()}")
        for row in range(self.space_table.rowCount()):
            key = self.space_table.item(row, 1).text()
            self.space_table.item(row, 0).setCheckState(Qt.CheckState.Checked if key in values
                                                        else Qt.CheckState.Unchecked)
            if key in values:
                self.space_table.item(row, 2).setText(values[key])

    def space_names(self) -> list[str]:
        return [self.space_table.item(r, 1).text() for r in range(self.space_table.rowCount())]

    def space(self) -> dict[str, list]:
        space = {}
        for row in range(self.space_table.rowCount()):
            if self.space_table.item(row, 0).checkState() != Qt.CheckState.Checked:
                continue
            name = self.space_table.item(row, 1)
            try:
                space[name.text()] = parse_values(self.space_table.item(row, 2).text(),
                                                  name.data(Qt.ItemDataRole.UserRole))
            except ValueError as exc:
                raise DomainError(f"parameter {name.text()}: {exc}") from None
        if not space:
            raise DomainError("tick at least one parameter to vary")
        return space

    # --- running -----------------------------------------------------------------------------
    async def run(self) -> pd.DataFrame | None:
        await self.editor.wait_opened()
        space = self.space()
        self.run_button.setEnabled(False)  # not twice while the offer or the fetch is open
        try:
            request = await self.fetcher.load(self.editor.request, *self.editor.data())
        finally:
            self.run_button.setEnabled(True)
        if request is None:
            return None
        total = len(grid(space))
        request = self.session.backtests.with_engine(request, total)  # auto settled here, and said below
        cluster = self.cluster.text().strip() or None
        metric = self.metric_box.currentText()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # qasync may step this task outside a running loop: the session's loop is current
            loop = asyncio.get_event_loop_policy().get_event_loop()
        self.names = list(space)
        self.table = pd.DataFrame()
        self._rows = []
        self._fill_axes()
        self._rebuild_heatmap()
        self._set_results([], list(dict.fromkeys((metric, *_TABLE_STATS))))
        self._cancel.clear()
        self.progress.setRange(0, total)
        self.progress.setValue(0)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        split = self.in_sample.value() / 100 if self.walk_forward.isChecked() else None
        where = f"the first {self.in_sample.value()} % of " if split else ""
        heading = f"{request.strategy_name} on {where}{', '.join(request.frames)}"
        self.status.setText(f"{heading}: {total} runs on {request.engine} ({request.engine_reason}), "
                            f"{f'cluster {cluster}' if cluster else f'{self.workers.value()} worker(s)'} …")

        def arrived(row: dict) -> None:
            loop.call_soon_threadsafe(self._row_arrived, row)

        def stage(text: str) -> None:  # what is being prepared before the first row (e.g. vectorbt's kernels)
            loop.call_soon_threadsafe(self.status.setText, f"{heading}: {text}")

        try:
            result = await self.session.backtests.optimize(request, space, self.workers.value(), arrived,
                                                           self._cancel.is_set, split, metric, cluster, stage)
            if isinstance(result, pd.DataFrame):
                outcome, table = None, result
            else:
                outcome, table = result, result.table
        except OptimizationCancelled as exc:
            outcome, table = None, exc.table
        except OptimizationAborted as exc:
            self.table = exc.table
            self._redraw()
            raise DomainError(str(exc)) from None
        except ValueError as exc:  # e.g. every in-sample run failed: show their errors
            self.table = pd.DataFrame(self._rows)
            self._redraw()
            raise DomainError(str(exc)) from None
        finally:
            self._show_progress()
            self.run_button.setEnabled(True)
            self.cancel_button.setEnabled(False)
        self.table = table
        self._redraw()
        failed = int((table["error"] != "").sum()) if "error" in table else 0
        where = f"the cluster at {cluster}" if cluster else f"{self.workers.value()} worker(s)"
        done = (f"{len(table)} of {total} runs on {request.engine} ({request.engine_reason}), {where}"
                + (f", {failed} failed (see the error column)" if failed else ""))
        if len(table) > MAX_ROWS_SHOWN:
            done += f" (the table lists the best {MAX_ROWS_SHOWN:,})"
        if self._cancel.is_set():
            self.status.setText(f"cancelled after {done}")
        elif outcome is not None:
            self.status.setText(f"{done}. {_walk_forward_text(outcome, metric)}")
        elif not table.empty and (table["error"] == "").any():
            best = best_row(table, metric)
            self.status.setText(f"{done}. Best {metric} {_fmt(metric, best[metric])} at "
                                + ", ".join(f"{k}={_value(best[k])}" for k in self.names))
        else:
            self.status.setText(done)
        return table

    def _row_arrived(self, row: dict) -> None:
        """One finished run: O(1) here; the table, progress bar and heatmap show it at their display rates."""
        self._rows.append(row)
        self.results.add(row)
        if self._add_to_heatmap(row):
            self._heat_timer.schedule()
        self._progress_timer.schedule()

    def _show_progress(self) -> None:
        self.progress.setValue(len(self._rows))

    # --- results -----------------------------------------------------------------------------
    def _fill_axes(self) -> None:
        for combo, pick in ((self.x_param, 0), (self.y_param, 1)):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(self.names)
            combo.setCurrentIndex(min(pick, len(self.names) - 1))
            combo.blockSignals(False)

    def _records(self) -> list[dict]:
        """Every run so far: the final table once the run ended, else the runs streamed in."""
        return self.table.to_dict("records") if not self.table.empty else self._rows

    def _redraw(self) -> None:
        """Rebuild the table and the heatmap from every run (at the end of a run, or for another metric)."""
        self._fill_results()
        self._rebuild_heatmap()

    def _fill_results(self) -> None:
        metric = self.metric_box.currentText()
        table = self.table if not self.table.empty else pd.DataFrame(self._rows)
        if len(table) > MAX_ROWS_SHOWN and metric in table:  # the heatmap still uses every run
            table = rank(table, metric).head(MAX_ROWS_SHOWN)
        stats = [c for c in dict.fromkeys((metric, *_TABLE_STATS)) if c in table]
        self._set_results(table.to_dict("records"), stats)
        self.results_view.resizeColumnsToContents()

    def _set_results(self, records: list[dict], stats: list[str]) -> None:
        metric = self.metric_box.currentText()
        columns = self.names + stats + ["error"]
        self.results.set_records(self.names, columns, metric, records)
        if metric in columns:
            self.results_view.sortByColumn(columns.index(metric), Qt.SortOrder.DescendingOrder)

    def _rebuild_heatmap(self) -> None:
        """Best value per cell for the current metric and axes, from every run so far."""
        self._heat_axes = (self.metric_box.currentText(), self.x_param.currentText(), self.y_param.currentText())
        self._heat_cells = {}
        for record in self._records():
            self._add_to_heatmap(record)
        self._draw_heatmap()

    def _add_to_heatmap(self, record: dict) -> bool:
        """Fold one run into its heatmap cell (successful runs only, as ``heatmap`` does); True if it changed."""
        metric, x, y = self._heat_axes
        value = record.get(metric)
        if not x or record.get("error") or x not in record or not is_number(value) or not math.isfinite(value):
            return False
        cell = (record[x], record.get(y) if y and y != x else 0)
        if cell in self._heat_cells and self._heat_cells[cell] >= value:
            return False
        self._heat_cells[cell] = float(value)
        return True

    def _draw_heatmap(self) -> None:
        metric, x, y = self._heat_axes
        if not self._heat_cells:
            self.heat.reset()
            return
        xs = sorted({cell[0] for cell in self._heat_cells})
        ys = sorted({cell[1] for cell in self._heat_cells})
        column, line = {v: n for n, v in enumerate(xs)}, {v: n for n, v in enumerate(ys)}
        values = np.full((len(ys), len(xs)), np.nan)
        for (x_value, y_value), value in self._heat_cells.items():
            values[line[y_value], column[x_value]] = value
        others = len(set(self.names) - {x, y})
        title = metric + (f" (best over the other {others} varied parameter(s))" if others else "")
        pivot = pd.DataFrame(values, index=ys, columns=xs)
        self.heat.display(pivot, x, y if y and y != x else "", metric, title)

    def _select_cell(self, x_value: object, y_value: object) -> None:
        """Select the best row at a heatmap cell (other varied parameters may differ within it)."""
        metric, x, y = self._heat_axes
        best, best_value = None, -math.inf
        for row, record in enumerate(self.results.records()):
            if record.get(x) != x_value or (y and y != x and record.get(y) != y_value):
                continue
            value = record.get(metric)
            value = float(value) if is_number(value) and math.isfinite(value) else -math.inf
            if best is None or value > best_value:
                best, best_value = row, value
        if best is not None:
            index = self.sorted_results.mapFromSource(self.results.index(best, 0))
            self.results_view.selectRow(index.row())
            self.results_view.scrollTo(index)

    def selected_params(self) -> dict:
        rows = sorted({i.row() for i in self.results_view.selectionModel().selectedIndexes()})
        if not rows:
            raise DomainError("select a result row first")
        source = self.sorted_results.mapToSource(self.sorted_results.index(rows[0], 0)).row()
        record = self.results.record_at(source) or {}
        return {name: _value(record.get(name)) if is_number(record.get(name)) else str(record.get(name, ""))
                for name in self.names}

    def _use_selected(self) -> None:
        try:
            params = self.selected_params()
        except DomainError as exc:
            self.show_error(exc)
            return
        self.editor.set_param_values(params)
        self.status.setText("editor parameters set to " + ", ".join(f"{k}={v}" for k, v in params.items()))
        self.use_params.emit(params)

    def show_error(self, error: Exception) -> None:
        self.status.setText(str(error))
        self.session.log.warning("optimizer", str(error))


class HeatmapView(pg.GraphicsLayoutWidget):
    """The metric over two parameters: one cell per pair of values, colour from the theme's down (worst)
    through neutral to up (best), the value written in each cell while they fit, a colour bar beside it."""

    cell_clicked = Signal(object, object)  # x value, y value

    def __init__(self, theme, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.theme = theme
        self.setBackground(theme.base)
        self.plot = self.addPlot()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.colormap = pg.ColorMap([0.0, 0.5, 1.0], [theme.down, theme.grid, theme.up])
        self.bar = pg.ColorBarItem(colorMap=self.colormap, interactive=False, width=14)
        self.bar.setImageItem(self.image, insert_in=self.plot)
        self.labels: list[pg.TextItem] = []
        self.x_values: list = []
        self.y_values: list = []
        self.values = np.empty((0, 0))
        self.image.mouseClickEvent = self._clicked

    def reset(self) -> None:
        self.image.clear()
        for label in self.labels:
            self.plot.removeItem(label)
        self.labels = []
        self.values = np.empty((0, 0))
        self.plot.setTitle("")

    def display(self, pivot: pd.DataFrame, x: str, y: str, metric: str, title: str = "") -> None:
        self.reset()
        values = pivot.to_numpy(dtype=float)
        if values.size == 0:
            return
        self.values = values
        self.x_values = list(pivot.columns)
        self.y_values = list(pivot.index)
        finite = values[np.isfinite(values)]
        if finite.size:
            low, high = float(finite.min()), float(finite.max())
            if low < 0 < high:  # centre the neutral colour on zero when the sign matters
                bound = max(-low, high)
                low, high = -bound, bound
            elif low == high:
                low, high = low - 1, high + 1
        else:
            low, high = -1.0, 1.0
        self.image.setImage(values, autoLevels=False)
        self.image.setRect(0, 0, values.shape[1], values.shape[0])
        self.bar.setLevels((low, high))
        bottom, left = self.plot.getAxis("bottom"), self.plot.getAxis("left")
        bottom.setTicks([[(i + 0.5, str(_value(v))) for i, v in enumerate(self.x_values)]])
        left.setTicks([[(j + 0.5, str(_value(v))) for j, v in enumerate(self.y_values)]] if y else [[]])
        self.plot.setLabel("bottom", x)
        self.plot.setLabel("left", y)
        self.plot.setTitle(title, color=self.theme.text)
        if values.shape[0] * values.shape[1] <= 150:
            for j in range(values.shape[0]):
                for i in range(values.shape[1]):
                    if np.isfinite(values[j, i]):
                        label = pg.TextItem(_fmt(metric, values[j, i]), color=self.theme.text, anchor=(0.5, 0.5))
                        label.setPos(i + 0.5, j + 0.5)
                        self.plot.addItem(label)
                        self.labels.append(label)
        self.plot.setRange(xRange=(0, values.shape[1]), yRange=(0, values.shape[0]), padding=0)

    def cell_at(self, i: int, j: int) -> tuple[object, object]:
        return self.x_values[i], self.y_values[j]

    def _clicked(self, event) -> None:  # type: ignore[no-untyped-def]
        pos = event.pos()
        i, j = int(pos.x()), int(pos.y())
        if 0 <= j < self.values.shape[0] and 0 <= i < self.values.shape[1]:
            self.cell_clicked.emit(*self.cell_at(i, j))
            event.accept()


def _walk_forward_text(outcome, metric: str) -> str:  # type: ignore[no-untyped-def]
    chosen = ", ".join(f"{k}={_value(v)}" for k, v in outcome.best_params.items())
    inside = outcome.in_sample.get(metric, math.nan)
    outside = outcome.out_of_sample.get(metric, math.nan)
    return (f"Walk-forward: best in-sample {chosen}; {metric} in-sample {_fmt(metric, inside)} → out-of-sample "
            f"{_fmt(metric, outside)} (from {outcome.split_time:%Y-%m-%d}); return out-of-sample "
            f"{_fmt('total_return', outcome.out_of_sample.get('total_return', math.nan))}")

