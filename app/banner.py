"""The banner over the previews: the conditions the user should know about now, one line each."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QSizePolicy


class Banner(QLabel):
    """Shows one message per key (an event kind or a window concern); hidden when there is none."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._messages: dict[object, str] = {}
        self.setWordWrap(True)
        self.setStyleSheet("background:#5a3b12; color:#ffe8c2; padding:6px; border-radius:4px;")
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.hide()

    def warn(self, key, text: str) -> None:
        self._messages[key] = text
        self._refresh()

    def clear(self, key) -> None:
        if self._messages.pop(key, None) is not None:
            self._refresh()

    def set(self, key, on: bool, text: str) -> None:
        """Show ``text`` under ``key`` while ``on``, else clear it."""
        if on:
            self.warn(key, text)
        else:
            self.clear(key)

    @property
    def messages(self) -> dict:
        return dict(self._messages)

    def _refresh(self) -> None:
        self.setText("\n".join(self._messages.values()))
        self.setVisible(bool(self._messages))
