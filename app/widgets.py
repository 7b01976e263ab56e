"""Small helpers for laying out and setting widgets."""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractButton, QComboBox, QHBoxLayout, QVBoxLayout, QWidget


def column(*widgets: QWidget) -> QWidget:
    return _box(QVBoxLayout, widgets)


def row(*widgets: QWidget) -> QWidget:
    return _box(QHBoxLayout, widgets)


def _box(layout_class, widgets) -> QWidget:
    box = QWidget()
    layout = layout_class(box)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    return box


def combo(values, current: str) -> QComboBox:
    box = QComboBox()
    box.addItems([str(v) for v in values])
    box.setCurrentText(str(current))
    return box


def set_checked_quietly(button: QAbstractButton, on: bool) -> None:
    """Show a toggle's state without running its handler again."""
    button.blockSignals(True)
    button.setChecked(on)
    button.blockSignals(False)
