"""The replay's transport bar (play/pause, step, speed, jump to time, position) and the File → Replay… dialog."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from PySide6.QtCore import QDateTime, Qt, QTimer, QTimeZone, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSlider,
    QToolBar,
    QToolButton,
    QWidget,
)

from terminal.services.replay import SPEEDS, ReplayClockState, ReplayController, ReplayRequest

DISPLAY_ZONE = ZoneInfo("America/New_York")  # the recorded sessions' exchange time


_QT_ZONE = QTimeZone(b"America/New_York")


def _qt(moment: datetime) -> QDateTime:
    """In the exchange's time, as the clock beside it shows."""
    return QDateTime.fromSecsSinceEpoch(int(moment.timestamp()), _QT_ZONE)


def _py(value: QDateTime) -> datetime:
    return datetime.fromtimestamp(value.toSecsSinceEpoch(), UTC)


class ReplayBar(QToolBar):
    """Shown while a replay runs; every button is a control line to the replay simulator."""

    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Replay", parent)
        self.setObjectName("replay-bar")
        self.controller: ReplayController | None = None
        self.badge = QLabel(" REPLAY ")
        self.badge.setStyleSheet("background:#b45309;color:white;font-weight:bold;border-radius:3px;padding:1px 6px;")
        self.clock = QLabel("--:--:--")
        self.clock.setMinimumWidth(170)
        self.play_button = QToolButton(text="▶ Play")
        self.play_button.setToolTip("Play / pause the replay (Space)")
        self.step_button = QToolButton(text="Step ▸")
        self.step_button.setToolTip("Play the next recorded tick, then pause")
        self.speed = QComboBox()
        for speed in SPEEDS:
            self.speed.addItem(f"{speed:g}×", speed)
        self.position = QSlider(Qt.Orientation.Horizontal)
        self.position.setRange(0, 1000)
        self.position.setMinimumWidth(220)
        self.position.setToolTip("Where the replay is in the recording; drag to jump")
        self.jump_to = QDateTimeEdit()
        self.jump_to.setTimeZone(_QT_ZONE)
        self.jump_to.setDisplayFormat("yyyy-MM-dd HH:mm:ss t")
        self.jump_button = QToolButton(text="Jump")
        self.state = QLabel("")
        for widget in (self.badge, self.clock, self.play_button, self.step_button, QLabel(" speed "), self.speed,
                       self.position, self.jump_to, self.jump_button, self.state):
            self.addWidget(widget)
        self.play_button.clicked.connect(self._toggle)
        self.step_button.clicked.connect(lambda: self._do(lambda c: c.step()))
        self.speed.activated.connect(lambda _: self._do(lambda c: c.set_speed(float(self.speed.currentData()))))
        self.jump_button.clicked.connect(lambda: self._do(lambda c: c.jump(_py(self.jump_to.dateTime()))))
        self.position.sliderReleased.connect(self._slid)
        self._timer = QTimer(self)  # the clock runs on between the replay's clock lines
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    def attach(self, controller: ReplayController | None) -> None:
        if self.controller is not None:
            self.controller.clock_changed.disconnect(self.show_clock)
            self.controller.refused.disconnect(self.failed.emit)
        self.controller = controller
        self.setVisible(controller is not None)
        self.badge.setText(getattr(controller, "badge", " REPLAY "))  # a step-through drives this bar too
        if controller is not None:
            controller.clock_changed.connect(self.show_clock)
            controller.refused.connect(self.failed.emit)
            index = self.speed.findData(controller.request.speed)
            if index < 0:
                self.speed.addItem(f"{controller.request.speed:g}×", controller.request.speed)
                index = self.speed.count() - 1
            self.speed.setCurrentIndex(index)
            if controller.clock is not None:
                self.show_clock(controller.clock)

    def _do(self, action) -> None:  # type: ignore[no-untyped-def]
        if self.controller is None:
            return
        try:
            action(self.controller)
        except Exception as exc:  # the child went away: say so, keep the window
            self.failed.emit(f"replay: {exc}")

    def _toggle(self) -> None:
        clock = self.controller.clock if self.controller is not None else None
        playing = clock is not None and clock.state == "playing"
        self._do(lambda c: c.pause() if playing else c.play())

    def _slid(self) -> None:
        clock = self.controller.clock if self.controller is not None else None
        if clock is None:
            return
        target = clock.start + (clock.end - clock.start) * (self.position.value() / 1000)
        self._do(lambda c: c.jump(target))

    def show_clock(self, clock: ReplayClockState) -> None:
        playing = clock.state == "playing"
        self.play_button.setText("⏸ Pause" if playing else "▶ Play")
        self.play_button.setEnabled(clock.state != "ended")
        self.step_button.setEnabled(clock.state != "ended")
        self.state.setText({"playing": f"playing at {clock.speed:g}×", "paused": "paused",
                            "ended": "end of the recording: holding the last state"}[clock.state]
                           if clock.state in ("playing", "paused", "ended") else clock.state)
        self.jump_to.setDateTimeRange(_qt(clock.start), _qt(clock.end))
        if not self.jump_to.hasFocus():
            self.jump_to.setDateTime(_qt(clock.now))
        self._tick()

    def _tick(self) -> None:
        controller = self.controller
        now = controller.now() if controller is not None else None
        clock = controller.clock if controller is not None else None
        if now is None or clock is None:
            return
        zone = getattr(controller, "display_zone", DISPLAY_ZONE)
        self.clock.setText(now.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z"))
        if not self.position.isSliderDown():
            span = (clock.end - clock.start).total_seconds()
            self.position.setValue(int(1000 * (now - clock.start).total_seconds() / span) if span > 0 else 1000)


class RecordDialog(QDialog):
    """Data → Record…: which symbols (the watchlist's by default), depth or not, into which archive."""

    def __init__(self, symbols: list[str], archive: str, provenance: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Record market data")
        layout = QFormLayout(self)
        self.symbols = QLineEdit(",".join(symbols))
        self.symbols.setToolTip("Comma-separated symbols, e.g. AAPL,ESZ6,EUR.USD")
        self.depth = QCheckBox("also the L2 book (depth)")
        self.archive = QLineEdit(archive)
        self.archive.setToolTip("A folder, nfs://HOST/EXPORT/PATH or hdfs://NAMENODE:PORT/PATH")
        layout.addRow("Symbols", self.symbols)
        layout.addRow("", self.depth)
        layout.addRow("Archive", self.archive)
        layout.addRow(QLabel(f"Every tick and 5-second bar, recorded as {provenance} data, until Data → Stop "
                             "recording\n(or the connection changes). A disconnect is written as a gap."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addRow(buttons)

    def symbol_list(self) -> list[str]:
        return [s.strip() for s in self.symbols.text().split(",") if s.strip()]


class ReplayDialog(QDialog):
    """What to replay: the archive, from when, how fast, which symbols."""

    def __init__(self, archive: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Market replay")
        layout = QFormLayout(self)
        self.archive = QLineEdit(archive)
        self.archive.setToolTip("A folder, nfs://HOST/EXPORT/PATH or hdfs://NAMENODE:PORT/PATH")
        self.symbols = QLineEdit()
        self.symbols.setPlaceholderText("every recorded symbol (or e.g. AAPL,MSFT)")
        self.use_start = QCheckBox("from the start of the recording")
        self.use_start.setChecked(True)
        self.start = QDateTimeEdit(QDateTime.currentDateTime())
        self.start.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
        self.start.setEnabled(False)
        self.use_start.toggled.connect(lambda on: self.start.setEnabled(not on))
        self.speed = QDoubleSpinBox()
        self.speed.setRange(0.1, 100.0)
        self.speed.setValue(1.0)
        self.speed.setSuffix("×")
        self.paused = QCheckBox("start paused (wait for Play)")
        layout.addRow("Archive", self.archive)
        layout.addRow("Symbols", self.symbols)
        layout.addRow("Start", self.use_start)
        layout.addRow("", self.start)
        layout.addRow("Speed", self.speed)
        layout.addRow("", self.paused)
        layout.addRow(QLabel("The replay trades a fresh simulated account; while it runs, no order reaches\n"
                             "any other connection. File → End replay goes back."))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addRow(buttons)

    def request(self) -> ReplayRequest:
        symbols = tuple(s.strip().upper() for s in self.symbols.text().split(",") if s.strip())
        start = None if self.use_start.isChecked() else _py(self.start.dateTime())
        return ReplayRequest(self.archive.text().strip(), start, float(self.speed.value()), symbols,
                             self.paused.isChecked())
