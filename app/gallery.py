"""The avatar gallery: Facade's bundled portraits and the user's own, as thumbnails; drop images to add."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem

from core.errors import UserError
from core.media.images import IMAGE_SUFFIXES, read_image

from .qt_images import to_pixmap

_THUMB = 96


class AvatarGallery(QListWidget):
    """Emits ``chosen(path)`` when an avatar is picked and ``problem(text)`` when a file cannot be added."""

    chosen = Signal(str)
    problem = Signal(str)

    def __init__(self, bundled_dir: Path, user_dir: Path, hidden: list[str], parent=None):
        super().__init__(parent)
        self.bundled_dir, self.user_dir = bundled_dir, user_dir
        self.hidden = set(hidden)
        self.elsewhere: list[str] = []  # portraits shown from where they are (--avatar), not copied in
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setIconSize(QSize(_THUMB, _THUMB))
        self.setGridSize(QSize(_THUMB + 18, _THUMB + 44))  # two columns, and room for a name on two lines
        self.setWordWrap(True)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a name longer than two lines keeps both ends
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setAcceptDrops(True)
        self.setToolTip("Click an avatar to use it. Drop images here to add your own.")
        self.itemClicked.connect(lambda item: self.chosen.emit(item.data(Qt.ItemDataRole.UserRole)))
        self.reload()

    def paths(self) -> list[str]:
        return [self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.count())]

    def reload(self) -> None:
        self.clear()
        folders = [self.bundled_dir] + ([self.user_dir] if self.user_dir.is_dir() else [])
        in_folders = [p for folder in folders for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
        for path in in_folders + [Path(p) for p in self.elsewhere]:
            if str(path) in self.hidden:
                continue
            try:
                thumb = read_image(path)
            except UserError:
                continue  # an unreadable file in the folder is not the gallery's to report every time
            pixmap = to_pixmap(_square(thumb))
            icon = QIcon(pixmap)
            icon.addPixmap(pixmap, QIcon.Mode.Selected)  # Qt would tint the chosen portrait blue
            item = QListWidgetItem(icon, f"{self.count() + 1}. {path.stem}")
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setToolTip(str(path))
            self.addItem(item)

    def add_files(self, files: list[str]) -> str | None:
        """Copy images into the user's avatar folder (the originals stay untouched); returns the last added."""
        added = None
        for name in files:
            source = Path(name)
            try:
                read_image(source)
            except UserError as exc:
                self.problem.emit(str(exc))
                continue
            self.user_dir.mkdir(parents=True, exist_ok=True)
            target = _free_name(self.user_dir / source.name)
            shutil.copy2(source, target)
            added = str(target)
        self.reload()
        return added

    def remove(self, path: str) -> None:
        """Bundled portraits are hidden; the user's copies are deleted (their originals are elsewhere); a
        portrait shown from elsewhere leaves the list and stays where it is."""
        if path in self.elsewhere:
            self.elsewhere.remove(path)
        elif Path(path).parent == self.user_dir:
            Path(path).unlink(missing_ok=True)
        else:
            self.hidden.add(path)
        self.reload()

    def select_path(self, path: str) -> None:
        """Select ``path``, showing it first if it is hidden or from elsewhere (``--avatar``: at the end)."""
        if path not in self.paths():
            if path in self.hidden:
                self.hidden.discard(path)
            else:
                self.elsewhere.append(path)
            self.reload()
        for i in range(self.count()):
            if self.item(i).data(Qt.ItemDataRole.UserRole) == path:
                self.setCurrentRow(i)

    # Drag and drop of image files.

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        added = self.add_files(files)
        if added:
            self.select_path(added)
            self.chosen.emit(added)
        event.acceptProposedAction()


def _square(rgb):
    import cv2

    h, w = rgb.shape[:2]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    return cv2.resize(rgb[y:y + side, x:x + side], (_THUMB, _THUMB), interpolation=cv2.INTER_AREA)


def _free_name(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate
