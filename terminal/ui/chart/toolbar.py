"""Chart toolbar: timeframe, chart type, indicator menu with editable parameters, drawing tools, follow."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QMenu,
    QSpinBox,
    QToolBar,
    QToolButton,
    QWidget,
)

from terminal.domain import BarSize
from terminal.ui.chart.drawings import HLINE, TREND
from terminal.ui.chart.items import CHART_TYPES
from terminal.ui.chart.studies import STUDY_KINDS

TIMEFRAMES = (BarSize.SEC_5, BarSize.MIN_1, BarSize.MIN_5, BarSize.MIN_15, BarSize.HOUR_1, BarSize.DAY_1)


class StudyParamsDialog(QDialog):
    """Edit one indicator's parameters (whole numbers are periods, ``width`` is in standard deviations)."""

    def __init__(self, kind: str, params: dict[str, float], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{kind} parameters")
        form = QFormLayout(self)
        self.editors: dict[str, QSpinBox | QDoubleSpinBox] = {}
        for name, value in params.items():
            if name == "width":
                box: QSpinBox | QDoubleSpinBox = QDoubleSpinBox()
                box.setRange(0.1, 10.0)
                box.setSingleStep(0.1)
            else:
                box = QSpinBox()
                box.setRange(1, 1000)
            box.setValue(value)
            self.editors[name] = box
            form.addRow(name, box)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> dict[str, float]:
        return {name: box.value() for name, box in self.editors.items()}


class ChartToolbar(QToolBar):
    """Only emits what the user picked; ChartWidget acts on it."""

    timeframe_picked = Signal(object)  # BarSize
    chart_type_picked = Signal(str)
    study_toggled = Signal(str, bool)
    study_params_edited = Signal(str, dict)
    drawing_tool_picked = Signal(str)
    drawings_cleared = Signal()
    follow_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.timeframe = QComboBox()
        for size in TIMEFRAMES:
            self.timeframe.addItem(size.short, size)
        self.timeframe.activated.connect(lambda i: self.timeframe_picked.emit(BarSize(self.timeframe.itemData(i))))
        self.addWidget(self.timeframe)
        self.chart_type = QComboBox()
        self.chart_type.addItems(list(CHART_TYPES))
        self.chart_type.textActivated.connect(self.chart_type_picked.emit)
        self.addWidget(self.chart_type)

        self.study_menu = QMenu("Indicators", self)
        self.study_actions: dict[str, QAction] = {}
        for kind in STUDY_KINDS:
            act = QAction(kind, self, checkable=True)
            act.toggled.connect(lambda on, k=kind: self.study_toggled.emit(k, on))
            self.study_menu.addAction(act)
            self.study_actions[kind] = act
        self.params_menu = self.study_menu.addMenu("Parameters")
        for kind, (_, defaults) in STUDY_KINDS.items():
            if defaults:
                self.params_menu.addAction(kind).triggered.connect(lambda _=False, k=kind: self._edit_params(k))
        self._current_params: dict[str, dict[str, float]] = {k: dict(v[1]) for k, v in STUDY_KINDS.items()}
        button = QToolButton()
        button.setText("Indicators")
        button.setMenu(self.study_menu)
        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.addWidget(button)

        self.addSeparator()
        self.addAction("H-line").triggered.connect(lambda: self.drawing_tool_picked.emit(HLINE))
        self.addAction("Trend").triggered.connect(lambda: self.drawing_tool_picked.emit(TREND))
        self.addAction("Clear drawings").triggered.connect(self.drawings_cleared.emit)
        self.addSeparator()
        self.follow = QAction("Follow", self, checkable=True, checked=True)
        self.follow.toggled.connect(self.follow_toggled.emit)
        self.addAction(self.follow)

    def show_timeframe(self, size: BarSize) -> None:
        i = self.timeframe.findText(size.short)
        if i >= 0:
            self.timeframe.setCurrentIndex(i)

    def show_study(self, kind: str, on: bool, params: dict[str, float] | None = None) -> None:
        act = self.study_actions[kind]
        act.blockSignals(True)
        act.setChecked(on)
        act.blockSignals(False)
        if params is not None:
            self._current_params[kind] = dict(params)

    def _edit_params(self, kind: str) -> None:
        dialog = StudyParamsDialog(kind, self._current_params[kind], self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self._current_params[kind] = dialog.values()
            self.study_params_edited.emit(kind, dialog.values())
