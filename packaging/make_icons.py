"""Render the app icon for the desktops into resources/icons/ from terminal/assets/quant-terminal.svg.

    QT_QPA_PLATFORM=offscreen python packaging/make_icons.py

Writes hicolor/<N>x<N>/apps/quant-terminal.png for the sizes freedesktop themes use, hicolor/scalable (the SVG),
quant-terminal.ico (Windows: PNG-compressed entries, Vista and later) and quant-terminal.icns (macOS: PNG
chunks). The files are committed; run this again only when the SVG changes.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08", 512: b"ic09"}


def png_bytes(size: int) -> bytes:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    from terminal.ui.icon import icon_image

    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    icon_image(size).save(buffer, "PNG")
    return bytes(data.data())


def ico(images: dict[int, bytes]) -> bytes:
    """ICONDIR + one ICONDIRENTRY per size, then the PNG data (a size of 256 is written as 0)."""
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = len(header) + 16 * len(images)
    entries, blobs = b"", b""
    for size, png in images.items():
        side = 0 if size >= 256 else size
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(png), offset + len(blobs))
        blobs += png
    return header + entries + blobs


def icns(images: dict[int, bytes]) -> bytes:
    chunks = b"".join(kind + struct.pack(">I", 8 + len(images[size])) + images[size]
                      for size, kind in ICNS_TYPES.items())
    return b"icns" + struct.pack(">I", 8 + len(chunks)) + chunks


def main() -> int:
    from PySide6.QtGui import QGuiApplication

    from terminal.ui.icon import ICON_SIZES, icon_svg

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv)
    out = ROOT / "resources" / "icons"
    images = {size: png_bytes(size) for size in sorted({*ICON_SIZES, *ICO_SIZES, *ICNS_TYPES})}
    for size in ICON_SIZES:
        path = out / "hicolor" / f"{size}x{size}" / "apps" / "quant-terminal.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(images[size])
    scalable = out / "hicolor" / "scalable" / "apps" / "quant-terminal.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    scalable.write_bytes(icon_svg())
    (out / "quant-terminal.ico").write_bytes(ico({size: images[size] for size in ICO_SIZES}))
    (out / "quant-terminal.icns").write_bytes(icns(images))
    print(f"icons in {out}: {len(ICON_SIZES)} PNG sizes, scalable SVG, .ico ({len(ICO_SIZES)} sizes), .icns")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
