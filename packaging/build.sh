#!/usr/bin/env bash
# Build the desktop bundle: dist/quant-terminal/ (executable dist/quant-terminal/quant-terminal) and the release
# archive dist/quant-terminal-VERSION-linux-ARCH.tar.gz (bundle + desktop entry + icons + install.sh).
#   PYTHON=.venv/bin/python bash packaging/build.sh      (make package does this)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
VERSION="$("$PYTHON" -c 'import terminal; print(terminal.__version__)')"
ARCH="$(uname -m)"
RELEASE="quant-terminal-$VERSION-linux-$ARCH"
started=$(date +%s)

"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/pyinstaller/quant-terminal.spec
built=$(date +%s)

# The release folder: what a user unpacks and runs install.sh from.
STAGE="build/release/$RELEASE"
rm -rf "build/release" && mkdir -p "$STAGE/share/applications" "$STAGE/share/icons"
cp -a dist/quant-terminal "$STAGE/"
cp packaging/linux/quant-terminal.desktop "$STAGE/share/applications/"
cp -r resources/icons/hicolor "$STAGE/share/icons/"
cp packaging/linux/install.sh "$STAGE/"
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate "$STAGE/share/applications/quant-terminal.desktop"
else
  echo "build.sh: desktop-file-validate not found (Debian: desktop-file-utils); the entry was not validated" >&2
fi
tar -C build/release -czf "dist/$RELEASE.tar.gz" "$RELEASE"
finished=$(date +%s)

echo "bundle:  dist/quant-terminal/ $(du -sm dist/quant-terminal | cut -f1) MB, $(find dist/quant-terminal -type f | wc -l) files," \
     "built in $((built - started)) s"
echo "release: dist/$RELEASE.tar.gz $(du -m "dist/$RELEASE.tar.gz" | cut -f1) MB (archived in $((finished - built)) s)"
