"""The app icon, drawn from the package's one SVG (``terminal/assets/quant-terminal.svg``) at any size.

The window, the task bar and About use it at run time; ``packaging/make_icons.py`` renders the desktop's
PNG sizes, the Windows ``.ico`` and the macOS ``.icns`` from the same drawing."""

from __future__ import annotations

from importlib import resources

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QIcon, QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)  # the sizes hicolor themes and docks ask for


def icon_svg() -> bytes:
    return resources.files("terminal").joinpath("assets", "quant-terminal.svg").read_bytes()


def icon_image(size: int) -> QImage:
    """The icon as a ``size``×``size`` ARGB image, drawn from the vector (no scaled bitmap)."""
    renderer = QSvgRenderer(QByteArray(icon_svg()))
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def app_icon() -> QIcon:
    icon = QIcon()
    for size in (size for size in ICON_SIZES if size <= 256):  # larger ones only the desktop's files need
        icon.addPixmap(QPixmap.fromImage(icon_image(size)))
    return icon
