"""The banner over the previews: the conditions the user should know about now, one line each, each with what
can be done about it and a button to dismiss it."""

from __future__ import annotations

from enum import Enum
from typing import Callable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QToolButton, QVBoxLayout, QWidget

Action = tuple[str, Callable[[], None]]  # a button's label and what it does


class Concern(Enum):
    """What the window itself warns about in the banner (the pipeline's events have their own kinds)."""

    AVATAR = "avatar"
    START = "start"
    ENGINE = "engine"  # the engine chosen did not start: kept while the mesh engine, started instead, runs
    CPU = "cpu"
    VCAM = "vcam"
    RECORD = "record"
    OUTPUT = "output"
    CRASH = "crash"
    API = "api"  # the control API could not listen
    NDI = "ndi"  # NDI output could not start
    KEYS = "keys"  # global keys: unavailable here, or some taken by another program


class _Row(QWidget):
    """One message's label, action buttons and dismiss button; kept and reused while the window lives (PySide
    keeps a few references to None for every widget made and deleted: a banner that came and went with each
    face lost and found added thousands in a call)."""

    def __init__(self, dismiss: Callable[[], None]):
        super().__init__()
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # copy a path or command
        self._layout.addWidget(self.label, 1)
        self.buttons: list[QPushButton] = []
        self._handlers: list[Callable[[], None]] = []
        self.close_button = QToolButton(text="✕", toolTip="Dismiss", autoRaise=True)
        self.close_button.clicked.connect(dismiss)
        self._layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)

    def show_message(self, text: str, actions: Sequence[Action]) -> None:
        self.label.setText(text)
        self._handlers = [handler for _, handler in actions]
        labels = [label for label, _ in actions]
        if labels != [button.text() for button in self.buttons]:
            for button in self.buttons:
                button.deleteLater()
            self.buttons = []
            for index, label in enumerate(labels):
                button = QPushButton(label)
                button.clicked.connect(lambda _=False, i=index: self._handlers[i]())
                self._layout.insertWidget(self._layout.count() - 1, button, 0, Qt.AlignmentFlag.AlignTop)
                self.buttons.append(button)
        self.show()


class Banner(QWidget):
    """One message per key (an event kind or a window concern), with optional action buttons; each can be
    dismissed. Hidden when there is none."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._messages: dict[object, str] = {}
        self._rows: dict[object, _Row] = {}
        self.setObjectName("banner")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.setStyleSheet("#banner {background:#5a3b12; border-radius:4px;} QLabel {color:#ffe8c2;}"
                           "QToolButton {color:#ffe8c2;}")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(8, 4, 4, 4)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.hide()

    def warn(self, key, text: str, actions: Sequence[Action] = ()) -> None:
        """Show ``text`` under ``key`` (replacing what was there), with a button for each of ``actions``."""
        if self._messages.get(key) == text:
            return
        self._messages[key] = text
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = _Row(lambda: self.clear(key))
            self._layout.addWidget(row)
        row.show_message(text, actions)
        self.show()

    def clear(self, key) -> None:
        """Remove ``key``'s message (also what its dismiss button does)."""
        self._messages.pop(key, None)
        row = self._rows.get(key)
        if row is not None:
            row.hide()
        self.setVisible(bool(self._messages))

    def set(self, key, on: bool, text: str) -> None:
        """Show ``text`` under ``key`` while ``on``, else clear it."""
        if on:
            self.warn(key, text)
        else:
            self.clear(key)

    @property
    def messages(self) -> dict:
        return dict(self._messages)

    def row(self, key) -> _Row | None:
        """The widgets of ``key``'s message: its label, action buttons and dismiss button (None: no message)."""
        return self._rows.get(key) if key in self._messages else None
