"""A widget that shows the newest frame, scaled to fit, with an optional caption over it."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from .qt_images import to_qimage


class VideoView(QWidget):
    def __init__(self, placeholder: str, parent=None):
        super().__init__(parent)
        self._image: QImage | None = None
        self._placeholder = placeholder
        self._caption = ""
        self.frames_shown = 0
        self.setMinimumSize(240, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def show_frame(self, rgb: np.ndarray) -> None:
        self._image = to_qimage(rgb)
        self.frames_shown += 1
        self.update()

    def set_caption(self, text: str) -> None:
        self._caption = text
        self.update()

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self._image = None
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(24, 26, 30))
        if self._image is None:
            painter.setPen(QColor(170, 175, 185))
            painter.drawText(self.rect().adjusted(12, 12, -12, -12), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self._placeholder)
        else:
            size = self._image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(self.rect().center())
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(target, self._image)
        if self._caption:
            font = QFont(painter.font())
            font.setPointSize(max(font.pointSize() * 3, 28))
            font.setBold(True)
            painter.setFont(font)
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._caption)
        painter.end()
