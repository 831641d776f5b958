"""Dark and light palettes and the style sheet applied to the whole window."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget


@dataclass(frozen=True)
class Theme:
    name: str
    window: str
    base: str
    alternate: str
    text: str
    muted: str
    accent: str
    up: str
    down: str
    flash_up: str
    flash_down: str
    grid: str
    border: str
    stale: str  # prices that are not live (the connection is down or the desk feed stale): greyed

    def color(self, field: str) -> QColor:
        return QColor(getattr(self, field))


DARK = Theme("dark", window="#1b1f24", base="#12151a", alternate="#171b21", text="#d7dce2", muted="#8a94a3",
             accent="#3d8bfd", up="#26a69a", down="#ef5350", flash_up="#1e4d46", flash_down="#5a2426",
             grid="#2a3038", border="#2f3640", stale="#5f6874")
LIGHT = Theme("light", window="#f3f4f6", base="#ffffff", alternate="#f7f8fa", text="#1f2328", muted="#6b7280",
              accent="#1f6feb", up="#0f8a7e", down="#d93c3a", flash_up="#c9eee9", flash_down="#f8d3d2",
              grid="#e3e6ea", border="#d0d7de", stale="#a3aab4")
THEMES = {"dark": DARK, "light": LIGHT}

# Badge colours of a session's provenance (background, text): the same in both themes, so that a live
# account never looks like the simulator whatever the theme. Keys are Provenance values.
_PROVENANCE_BADGES = {"live": ("#b91c1c", "#ffffff"), "paper": ("#1d4ed8", "#ffffff"),
                      "simulator": ("#f59e0b", "#111827"), "replay": ("#7c3aed", "#ffffff")}


# The status bar's STALE badge (prices not live): amber on grey in both themes, apart from every provenance badge.
STALE_BADGE = ("QLabel { background: #4b5563; color: #fcd34d; font-weight: bold; padding: 1px 8px; "
               "border: 1px solid #f59e0b; border-radius: 3px; }")


def provenance_badge(provenance: str) -> str:
    """Style sheet of the label that shows a session's provenance (LIVE, PAPER, SIMULATOR, REPLAY)."""
    background, text = _PROVENANCE_BADGES.get(provenance, ("#6b7280", "#ffffff"))
    return (f"QLabel {{ background: {background}; color: {text}; font-weight: bold; padding: 1px 8px; "
            f"border-radius: 3px; }}")


def apply_theme(app: QApplication, theme: Theme, window: QWidget | None = None) -> None:
    """The theme's palette for the whole application, and its style sheet for ``window`` (with its docks,
    floating ones too, and the dialogs it parents), or for the whole application before there is a window.

    Re-polishing is Qt's work on the GUI thread, in proportion to the widgets a style sheet covers: a
    switch scoped to the window costs ~50 ms where the application-wide sheet cost ~150 ms (and seconds
    with more top-level widgets, such as the hundreds of plot menus pyqtgraph creates). The palette goes
    first: widgets polished by the sheet keep the palette they were polished with."""
    if app.style().name().lower() != "fusion":  # setting it again would re-polish every widget for nothing
        app.setStyle("Fusion")
    app.setPalette(_palette(theme))
    sheet = _style_sheet(theme)
    if window is None:
        app.setStyleSheet(sheet)
    else:
        window.setStyleSheet(sheet)


def _palette(theme: Theme) -> QPalette:
    palette = QPalette()
    palette.setColor(QPalette.ColorRole.Window, theme.color("window"))
    palette.setColor(QPalette.ColorRole.WindowText, theme.color("text"))
    palette.setColor(QPalette.ColorRole.Base, theme.color("base"))
    palette.setColor(QPalette.ColorRole.AlternateBase, theme.color("alternate"))
    palette.setColor(QPalette.ColorRole.Text, theme.color("text"))
    palette.setColor(QPalette.ColorRole.Button, theme.color("window"))
    palette.setColor(QPalette.ColorRole.ButtonText, theme.color("text"))
    palette.setColor(QPalette.ColorRole.Highlight, theme.color("accent"))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    palette.setColor(QPalette.ColorRole.ToolTipBase, theme.color("base"))
    palette.setColor(QPalette.ColorRole.ToolTipText, theme.color("text"))
    palette.setColor(QPalette.ColorRole.PlaceholderText, theme.color("muted"))
    return palette


def _style_sheet(theme: Theme) -> str:
    return f"""
        QDockWidget::title {{ background: {theme.alternate}; padding: 3px 6px; border-bottom: 1px solid {theme.border}; }}
        QTableView {{ gridline-color: {theme.grid}; border: none; }}
        QHeaderView::section {{ background: {theme.alternate}; color: {theme.muted}; border: none;
                                border-bottom: 1px solid {theme.border}; padding: 2px 4px; }}
        QPushButton#buy {{ background: {theme.up}; color: white; font-weight: bold; padding: 5px; }}
        QPushButton#sell {{ background: {theme.down}; color: white; font-weight: bold; padding: 5px; }}
        QLabel#error {{ color: {theme.down}; }}
        QLabel#preview {{ color: {theme.muted}; }}
        QLabel[stale="true"], QLabel#preview[stale="true"] {{ color: {theme.stale}; }}
        QTableView[stale="true"] {{ selection-background-color: {theme.grid}; selection-color: {theme.stale}; }}
        QStatusBar QLabel {{ padding: 0 6px; }}
        """
