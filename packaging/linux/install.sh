#!/usr/bin/env bash
# Install the QuantTerminal bundle for this user (no root): run from the unpacked release folder.
#
#   ./install.sh               copy the app to ~/.local/opt/quant-terminal, put quant-terminal on ~/.local/bin,
#                              and its entry and icon where the desktop's applications menu looks
#   ./install.sh --uninstall   remove all of that again (your data, settings and database stay)
#
# Where: QT_INSTALL_DIR (default ~/.local/opt/quant-terminal), QT_BIN_DIR (default ~/.local/bin),
# XDG_DATA_HOME (default ~/.local/share) for applications/ and icons/.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
APP_DIR="${QT_INSTALL_DIR:-$HOME/.local/opt/quant-terminal}"
BIN_DIR="${QT_BIN_DIR:-$HOME/.local/bin}"
DATA_HOME="${XDG_DATA_HOME:-$HOME/.local/share}"
ENTRY="$DATA_HOME/applications/quant-terminal.desktop"
ICONS="$DATA_HOME/icons/hicolor"

refresh_caches() {  # both are optional: desktops also rescan on their own
  command -v update-desktop-database >/dev/null && update-desktop-database -q "$DATA_HOME/applications" || true
  command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$ICONS" 2>/dev/null || true
}

if [ "${1:-}" = "--uninstall" ]; then
  rm -rf "$APP_DIR"
  [ -L "$BIN_DIR/quant-terminal" ] && rm -f "$BIN_DIR/quant-terminal"
  rm -f "$ENTRY"
  find "$ICONS" -name 'quant-terminal.*' -path '*/apps/*' -delete 2>/dev/null || true
  refresh_caches
  echo "QuantTerminal removed (data and settings kept: ~/.local/share/quant-terminal, ~/.config/quant-terminal)"
  exit 0
fi
if [ -n "${1:-}" ]; then
  echo "install.sh: unknown option '$1'; use no option to install or --uninstall to remove" >&2
  exit 2
fi
if [ ! -x "$HERE/quant-terminal/quant-terminal" ]; then
  echo "install.sh: no bundle at $HERE/quant-terminal/quant-terminal; run it from the unpacked release folder" >&2
  exit 1
fi

mkdir -p "$(dirname "$APP_DIR")" "$BIN_DIR" "$DATA_HOME/applications" "$ICONS"
rm -rf "$APP_DIR.new"
cp -a "$HERE/quant-terminal" "$APP_DIR.new"  # copied whole, then swapped: a running copy keeps its files
rm -rf "$APP_DIR"
mv "$APP_DIR.new" "$APP_DIR"
ln -sfn "$APP_DIR/quant-terminal" "$BIN_DIR/quant-terminal"
cp -r "$HERE/share/icons/hicolor/." "$ICONS/"
# The menu's entry starts the installed executable by its full path: ~/.local/bin is not on every session's PATH.
sed "s|^Exec=quant-terminal|Exec=\"$APP_DIR/quant-terminal\"|" "$HERE/share/applications/quant-terminal.desktop" > "$ENTRY"
chmod 644 "$ENTRY"
if command -v desktop-file-validate >/dev/null; then desktop-file-validate "$ENTRY"; fi
refresh_caches
echo "QuantTerminal installed in $APP_DIR"
echo "  applications menu: $ENTRY"
echo "  command line:      $BIN_DIR/quant-terminal"
case ":$PATH:" in *":$BIN_DIR:"*) ;; *) echo "  ($BIN_DIR is not on your PATH: add it to run quant-terminal by name)";; esac
