"""Python code editor: line numbers, syntax highlighting, current-line and error-line marks, find/replace bar."""

from __future__ import annotations

import keyword
import re

from PySide6.QtCore import QRect, QRegularExpression, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QKeySequence,
    QPainter,
    QShortcut,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from terminal.ui.theme import DARK, Theme


def _format(color: str, bold: bool = False, italic: bool = False) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(color))
    if bold:
        fmt.setFontWeight(QFont.Weight.Bold)
    fmt.setFontItalic(italic)
    return fmt


class PythonHighlighter(QSyntaxHighlighter):
    """Keywords, builtins, decorators, numbers, strings (incl. triple-quoted across lines), comments."""

    def __init__(self, document: QTextDocument, dark: bool = True) -> None:
        super().__init__(document)
        palette = {
            "keyword": "#c678dd" if dark else "#a626a4", "builtin": "#56b6c2" if dark else "#0184bc",
            "string": "#98c379" if dark else "#50a14f", "number": "#d19a66" if dark else "#986801",
            "comment": "#7f848e" if dark else "#a0a1a7", "decorator": "#e5c07b" if dark else "#c18401",
            "self": "#e06c75" if dark else "#e45649", "def": "#61afef" if dark else "#4078f2",
        }
        self.formats = {
            "keyword": _format(palette["keyword"], bold=True), "builtin": _format(palette["builtin"]),
            "string": _format(palette["string"]), "number": _format(palette["number"]),
            "comment": _format(palette["comment"], italic=True), "decorator": _format(palette["decorator"]),
            "self": _format(palette["self"]), "def": _format(palette["def"], bold=True),
        }
        builtins = ("abs", "all", "any", "bool", "dict", "enumerate", "float", "int", "len", "list", "max", "min",
                    "print", "range", "round", "set", "sorted", "str", "sum", "tuple", "zip", "isinstance")
        self.rules = [
            (QRegularExpression(r"\b(" + "|".join(keyword.kwlist) + r")\b"), "keyword"),
            (QRegularExpression(r"\b(" + "|".join(builtins) + r")\b"), "builtin"),
            (QRegularExpression(r"\bself\b"), "self"),
            (QRegularExpression(r"\b(?:def|class)\s+(\w+)"), "def"),
            (QRegularExpression(r"@\w+(\.\w+)*"), "decorator"),
            (QRegularExpression(r"\b[0-9][0-9_]*(\.[0-9_]*)?([eE][+-]?[0-9]+)?\b"), "number"),
            (QRegularExpression(r"[rbfRBF]?\"[^\"\\\n]*(\\.[^\"\\\n]*)*\""), "string"),
            (QRegularExpression(r"[rbfRBF]?'[^'\\\n]*(\\.[^'\\\n]*)*'"), "string"),
        ]
        self.comment = QRegularExpression(r"#[^\n]*")
        self.triple = (QRegularExpression('"""'), QRegularExpression("'''"))

    def highlightBlock(self, text: str) -> None:  # noqa: N802
        for pattern, name in self.rules:
            matches = pattern.globalMatch(text)
            while matches.hasNext():
                match = matches.next()
                group = 1 if name == "def" else 0
                self.setFormat(match.capturedStart(group), match.capturedLength(group), self.formats[name])
        # comments last, unless the '#' sits inside a string
        matches = self.comment.globalMatch(text)
        while matches.hasNext():
            match = matches.next()
            if self.format(match.capturedStart()) != self.formats["string"]:
                self.setFormat(match.capturedStart(), len(text) - match.capturedStart(), self.formats["comment"])
                break
        self._multiline(text)

    def _multiline(self, text: str) -> None:
        self.setCurrentBlockState(0)
        for state, delimiter in enumerate(self.triple, start=1):
            start = 0
            if self.previousBlockState() == state:
                start_match_length = 0
            else:
                match = delimiter.match(text)
                if not match.hasMatch():
                    continue
                start = match.capturedStart()
                start_match_length = 3
            while start >= 0:
                end_match = delimiter.match(text, start + start_match_length)
                if end_match.hasMatch():
                    length = end_match.capturedEnd() - start
                    self.setFormat(start, length, self.formats["string"])
                    next_match = delimiter.match(text, start + length)
                    start = next_match.capturedStart() if next_match.hasMatch() else -1
                    start_match_length = 3
                else:
                    self.setCurrentBlockState(state)
                    self.setFormat(start, len(text) - start, self.formats["string"])
                    return


class _LineNumbers(QWidget):
    def __init__(self, editor: CodeEditor) -> None:
        super().__init__(editor)
        self.editor = editor

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(self.editor.line_number_width(), 0)

    def paintEvent(self, event) -> None:  # noqa: N802
        self.editor.paint_line_numbers(event)


class CodeEditor(QPlainTextEdit):
    """Monospace editor with a line-number gutter; ``mark_error(line)`` underlines a line from a traceback."""

    def __init__(self, theme: Theme = DARK, parent=None) -> None:
        super().__init__(parent)
        self.theme = theme
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSize(10)
        self.setFont(font)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setTabStopDistance(self.fontMetrics().horizontalAdvance(" ") * 4)
        self.highlighter = PythonHighlighter(self.document(), dark=theme.name == "dark")
        self.gutter = _LineNumbers(self)
        self.error_line = 0
        self.blockCountChanged.connect(lambda _: self._update_margins())
        self.updateRequest.connect(self._scroll_gutter)
        self.cursorPositionChanged.connect(self._highlight_lines)
        self._update_margins()
        self._highlight_lines()

    def line_number_width(self) -> int:
        digits = max(3, len(str(self.blockCount())))
        return 12 + self.fontMetrics().horizontalAdvance("9") * digits

    def _update_margins(self) -> None:
        self.setViewportMargins(self.line_number_width(), 0, 0, 0)

    def _scroll_gutter(self, rect: QRect, dy: int) -> None:
        if dy:
            self.gutter.scroll(0, dy)
        else:
            self.gutter.update(0, rect.y(), self.gutter.width(), rect.height())

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        rect = self.contentsRect()
        self.gutter.setGeometry(QRect(rect.left(), rect.top(), self.line_number_width(), rect.height()))

    def paint_line_numbers(self, event) -> None:  # type: ignore[no-untyped-def]
        painter = QPainter(self.gutter)
        painter.fillRect(event.rect(), self.theme.color("alternate"))
        block = self.firstVisibleBlock()
        number = block.blockNumber()
        top = round(self.blockBoundingGeometry(block).translated(self.contentOffset()).top())
        bottom = top + round(self.blockBoundingRect(block).height())
        height = self.fontMetrics().height()
        while block.isValid() and top <= event.rect().bottom():
            if block.isVisible() and bottom >= event.rect().top():
                is_error = number + 1 == self.error_line
                painter.setPen(self.theme.color("down" if is_error else "muted"))
                painter.drawText(0, top, self.gutter.width() - 6, height, Qt.AlignmentFlag.AlignRight, str(number + 1))
            block = block.next()
            top = bottom
            bottom = top + round(self.blockBoundingRect(block).height())
            number += 1
        painter.end()

    def _highlight_lines(self) -> None:
        selections = []
        current = QTextEdit.ExtraSelection()
        current.format.setBackground(self.theme.color("alternate"))
        current.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
        current.cursor = self.textCursor()
        current.cursor.clearSelection()
        selections.append(current)
        if self.error_line:
            block = self.document().findBlockByNumber(self.error_line - 1)
            if block.isValid():
                error = QTextEdit.ExtraSelection()
                error.format.setBackground(self.theme.color("flash_down"))
                error.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
                error.cursor = QTextCursor(block)
                selections.append(error)
        self.setExtraSelections(selections)

    def mark_error(self, line: int) -> None:
        """Highlight ``line`` (1-based; 0 clears) and move the cursor there."""
        self.error_line = line
        if line:
            block = self.document().findBlockByNumber(line - 1)
            if block.isValid():
                self.setTextCursor(QTextCursor(block))
                self.centerCursor()
        self._highlight_lines()
        self.gutter.update()

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Tab and not event.modifiers():
            self.insertPlainText("    ")
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            line = self.textCursor().block().text()
            indent = re.match(r"\s*", line).group(0)
            if line.rstrip().endswith(":"):
                indent += "    "
            super().keyPressEvent(event)
            self.insertPlainText(indent)
            return
        super().keyPressEvent(event)


class FindReplaceBar(QWidget):
    """Find next/previous, replace, replace all; Ctrl+F opens it, Escape closes it."""

    def __init__(self, editor: CodeEditor, parent=None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.find_text = QLineEdit()
        self.find_text.setPlaceholderText("Find")
        self.replace_text = QLineEdit()
        self.replace_text.setPlaceholderText("Replace with")
        self.case = QCheckBox("Aa")
        self.case.setToolTip("Match case")
        self.status = QLabel("")
        self.status.setObjectName("preview")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.find_text, self.case):
            layout.addWidget(widget)
        for label, slot in (("◀", lambda: self.find(backward=True)), ("▶", self.find)):
            button = QPushButton(label)
            button.setFixedWidth(28)
            button.clicked.connect(slot)
            layout.addWidget(button)
        layout.addWidget(self.replace_text)
        for label, slot in (("Replace", self.replace), ("All", self.replace_all)):
            button = QPushButton(label)
            button.clicked.connect(slot)
            layout.addWidget(button)
        layout.addWidget(self.status)
        self.find_text.returnPressed.connect(self.find)
        QShortcut(QKeySequence("Escape"), self, activated=self.hide)

    def _flags(self, backward: bool = False) -> QTextDocument.FindFlag:
        flags = QTextDocument.FindFlag(0)
        if backward:
            flags |= QTextDocument.FindFlag.FindBackward
        if self.case.isChecked():
            flags |= QTextDocument.FindFlag.FindCaseSensitively
        return flags

    def find(self, backward: bool = False) -> bool:
        text = self.find_text.text()
        if not text:
            return False
        if self.editor.find(text, self._flags(backward)):
            self.status.setText("")
            return True
        cursor = self.editor.textCursor()  # wrap around
        cursor.movePosition(QTextCursor.MoveOperation.End if backward else QTextCursor.MoveOperation.Start)
        self.editor.setTextCursor(cursor)
        found = self.editor.find(text, self._flags(backward))
        self.status.setText("" if found else "not found")
        return found

    def replace(self) -> None:
        cursor = self.editor.textCursor()
        same = cursor.selectedText() == self.find_text.text() if self.case.isChecked() else \
            cursor.selectedText().lower() == self.find_text.text().lower()
        if cursor.hasSelection() and same:
            cursor.insertText(self.replace_text.text())
        self.find()

    def replace_all(self) -> int:
        text = self.find_text.text()
        if not text:
            return 0
        cursor = self.editor.textCursor()
        cursor.beginEditBlock()
        self.editor.moveCursor(QTextCursor.MoveOperation.Start)
        count = 0
        while self.editor.find(text, self._flags()):
            self.editor.textCursor().insertText(self.replace_text.text())
            count += 1
        cursor.endEditBlock()
        self.status.setText(f"{count} replaced")
        return count


class EditorWithFind(QWidget):
    def __init__(self, theme: Theme = DARK, parent=None) -> None:
        super().__init__(parent)
        self.editor = CodeEditor(theme)
        self.find_bar = FindReplaceBar(self.editor)
        self.find_bar.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.find_bar)
        QShortcut(QKeySequence.StandardKey.Find, self, activated=self.open_find)

    def open_find(self) -> None:
        selected = self.editor.textCursor().selectedText()
        if selected:
            self.find_bar.find_text.setText(selected)
        self.find_bar.show()
        self.find_bar.find_text.setFocus()
        self.find_bar.find_text.selectAll()
