"""Help (what the keys do, where to get a checkpoint) and Settings (keys, countdown, recordings folder, the
control API)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QKeySequenceEdit,
                               QLabel, QLineEdit, QPushButton, QSpinBox, QVBoxLayout)

from core.engines.checkpoints import missing_checkpoint
from core.live.sinks import virtual_camera_help
from core.paths import default_recordings_dir

from .hotkeys import ACTIONS
from .settings import AppSettings
from .widgets import row


# The window keeps one of each dialog and shows it again: PySide keeps a few references to None for every
# widget made and deleted, and a dialog is dozens of widgets.


class HelpDialog(QDialog):
    def __init__(self, hotkeys: dict[str, str], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Facade help")
        self._text = QLabel()
        self._text.setWordWrap(True)
        self._text.setOpenExternalLinks(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self._text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.show_keys(hotkeys)

    def show_keys(self, hotkeys: dict[str, str]) -> None:
        """The help, with the keys as they are bound now."""
        rows = "".join(f"<tr><td><b>{hotkeys.get(a.name, a.default_key)}</b>&nbsp;&nbsp;</td><td>{a.label}</td></tr>"
                       for a in ACTIONS)
        self._text.setText(
            "<h3>Getting started</h3>"
            "<ol><li>Pick an avatar on the left (or drop your own portrait there).</li>"
            "<li>Look at the camera with a neutral face, matching the avatar's pose (the onion skin, key O, "
            "helps), and press <b>Calibrate</b>.</li>"
            "<li>Turn on the <b>virtual camera</b> and choose <i>Facade</i> (or <i>OBS Virtual Camera</i>) as "
            "the camera in Zoom, Meet, Discord or OBS. Start Facade before the call app.</li></ol>"
            f"<h3>Keys</h3><table>{rows}</table>"
            f"<h3>Virtual camera</h3><p>{virtual_camera_help()}</p>"
            f"<h3>FOMM engine</h3><p>{missing_checkpoint().advice}.</p>")


class _KeyEdit(QKeySequenceEdit):
    """One key; Esc closes the dialog as everywhere else instead of becoming the key."""

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape:
            event.ignore()
            return
        super().keyPressEvent(event)


class SettingsDialog(QDialog):
    """Rebind keys (OK refuses a key bound to two actions), set the calibration countdown, the recordings
    folder and the control API; ``store`` writes them back."""

    def __init__(self, settings: AppSettings, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Facade settings")
        form = QFormLayout()
        self._edits = {}
        for action in ACTIONS:
            edit = _KeyEdit()
            edit.setMaximumSequenceLength(1)
            self._edits[action.name] = edit
            form.addRow(action.label, edit)
        self._countdown = QSpinBox()
        self._countdown.setRange(0, 10)
        self._countdown.setSuffix(" s")
        form.addRow("Calibration countdown", self._countdown)
        self.recordings = QLineEdit()
        self.recordings.setPlaceholderText(str(default_recordings_dir()))
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._choose_recordings)
        form.addRow("Recordings folder", row(self.recordings, browse))
        self.api_enabled = QCheckBox("On: Stream Deck, Streamer.bot and scripts can drive Facade")
        self.api_port = QSpinBox()
        self.api_port.setRange(1024, 65535)
        self.api_port.setToolTip("WebSocket on this TCP port, OSC on the same UDP port")
        self.api_lan = QCheckBox("Allow other devices on the network (they must send the token)")
        self._token = QLineEdit(readOnly=True)  # selectable, to copy into the other device
        form.addRow("Control API (WebSocket, OSC)", self.api_enabled)
        form.addRow("Port", self.api_port)
        form.addRow("", self.api_lan)
        form.addRow("Token", self._token)
        self.problem = QLabel()  # a key bound to two actions: said here, and OK refuses it
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color:#c62828;")
        self.problem.hide()
        for edit in self._edits.values():
            edit.keySequenceChanged.connect(self._show_clash)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.show_settings(settings)

    def show_settings(self, settings: AppSettings) -> None:
        """Show ``settings`` (as they are now, each time the dialog opens)."""
        defaults = {a.name: a.default_key for a in ACTIONS}
        for name, edit in self._edits.items():
            edit.setKeySequence(QKeySequence(settings.hotkeys.get(name, defaults[name])))
        self._countdown.setValue(settings.countdown)
        self.recordings.setText(settings.recordings)
        self.api_enabled.setChecked(settings.api_enabled)
        self.api_port.setValue(settings.api_port)
        self.api_lan.setChecked(settings.api_lan)
        self._token.setText(settings.api_token)
        self._show_clash()

    def _choose_recordings(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save recordings in",
                                                  self.recordings.text() or str(default_recordings_dir()))
        if folder:
            self.recordings.setText(folder)

    def clash(self) -> str:
        """What is wrong with the keys (one key for two actions, whose labels would both lie), or ''."""
        labels = {a.name: a.label for a in ACTIONS}
        taken: dict[str, str] = {}
        for name, edit in self._edits.items():
            key = edit.keySequence().toString()
            if key and key in taken:
                return (f"{key} is bound to both “{labels[taken[key]]}” and “{labels[name]}”: "
                        "give one of them another key")
            taken.setdefault(key, name)
        return ""

    def _show_clash(self) -> None:
        text = self.clash()
        self.problem.setText(text)
        self.problem.setVisible(bool(text))

    def accept(self) -> None:
        self._show_clash()
        if not self.clash():
            super().accept()

    def store(self, settings: AppSettings) -> None:
        """Write the dialog's values into ``settings``."""
        settings.hotkeys = {name: edit.keySequence().toString() for name, edit in self._edits.items()}
        settings.countdown = self._countdown.value()
        settings.recordings = self.recordings.text().strip()
        settings.api_enabled = self.api_enabled.isChecked()
        settings.api_port = self.api_port.value()
        settings.api_lan = self.api_lan.isChecked()
