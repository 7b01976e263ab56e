"""Help (what the keys do, where to get a checkpoint) and Settings (keys, countdown, recordings folder, the
control API)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QGridLayout,
                               QKeySequenceEdit, QLabel, QLineEdit, QPushButton, QSpinBox, QVBoxLayout)

from core.engines.checkpoints import missing_checkpoint
from core.live.sinks import virtual_camera_help
from core.paths import default_recordings_dir

from .hotkeys import ACTIONS, GLOBAL_ACTIONS, clash
from .settings import AppSettings
from .widgets import row


# The window keeps one of each dialog and shows it again: PySide keeps a few references to None for every
# widget made and deleted, and a dialog is dozens of widgets.


class HelpDialog(QDialog):
    def __init__(self, hotkeys: dict[str, str], parent=None, everywhere: dict[str, str] | None = None):
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
        self.show_keys(hotkeys, everywhere)

    def show_keys(self, hotkeys: dict[str, str], everywhere: dict[str, str] | None = None) -> None:
        """The help, with the keys as they are bound now (``everywhere``: the global keys, when they are on)."""
        def cell(key: str | None) -> str:
            return f"<td><b>{key or ''}</b>&nbsp;&nbsp;</td>"

        head = ("<tr><th>In the window&nbsp;&nbsp;</th><th>Everywhere&nbsp;&nbsp;</th><th></th></tr>"
                if everywhere else "")
        rows = head + "".join(f"<tr>{cell(hotkeys.get(a.name, a.default_key))}"
                              f"{cell(everywhere.get(a.name)) if everywhere else ''}<td>{a.label}</td></tr>"
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
    """Rebind keys, in the window and everywhere (OK refuses a key bound to two actions), set the calibration
    countdown, the recordings folder and the control API; ``store`` writes them back."""

    def __init__(self, settings: AppSettings, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Facade settings")
        keys = QGridLayout()
        keys.addWidget(QLabel("<b>In the window</b>"), 0, 1)
        keys.addWidget(QLabel("<b>Everywhere</b>"), 0, 2)
        self._edits: dict[str, _KeyEdit] = {}
        self._global_edits: dict[str, _KeyEdit] = {}
        for line, action in enumerate(ACTIONS, start=1):
            keys.addWidget(QLabel(action.label), line, 0)
            self._edits[action.name] = _key_edit()
            keys.addWidget(self._edits[action.name], line, 1)
            if action.global_key is not None:
                self._global_edits[action.name] = _key_edit()
                keys.addWidget(self._global_edits[action.name], line, 2)
        self.global_keys = QCheckBox("Global keys: the keys under Everywhere work while another program (Zoom, "
                                     "OBS, a game) has focus")
        self.global_keys.setToolTip("Off by default: while on, those keys are taken from every other program")
        global_note = QLabel("macOS: allow Facade (or the terminal that runs it) under System Settings → Privacy & "
                             "Security → Accessibility. Wayland: not available (log in with an X11 session, or "
                             "use the control API; see README: Keys).")
        global_note.setWordWrap(True)
        form = QFormLayout()
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
        for edit in (*self._edits.values(), *self._global_edits.values()):
            edit.keySequenceChanged.connect(self._show_clash)
        self.global_keys.toggled.connect(self._show_clash)
        layout = QVBoxLayout(self)
        layout.addLayout(keys)
        layout.addWidget(self.global_keys)
        layout.addWidget(global_note)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.show_settings(settings)

    def show_settings(self, settings: AppSettings) -> None:
        """Show ``settings`` (as they are now, each time the dialog opens)."""
        defaults = AppSettings()
        for name, edit in self._edits.items():
            edit.setKeySequence(QKeySequence(settings.hotkeys.get(name, defaults.hotkeys[name])))
        for name, edit in self._global_edits.items():
            edit.setKeySequence(QKeySequence(settings.global_hotkeys.get(name, defaults.global_hotkeys[name])))
        self.global_keys.setChecked(settings.global_keys)
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
        """What is wrong with the keys (one key for two actions, whose labels would both lie; a global key
        without Ctrl, Alt or Meta), or ''. Global keys count only while they are on."""
        return clash(_keys(self._edits), _keys(self._global_edits) if self.global_keys.isChecked() else {})

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
        settings.hotkeys = _keys(self._edits)
        settings.global_hotkeys = _keys(self._global_edits)
        settings.global_keys = self.global_keys.isChecked()
        settings.countdown = self._countdown.value()
        settings.recordings = self.recordings.text().strip()
        settings.api_enabled = self.api_enabled.isChecked()
        settings.api_port = self.api_port.value()
        settings.api_lan = self.api_lan.isChecked()


def _key_edit() -> _KeyEdit:
    edit = _KeyEdit()
    edit.setMaximumSequenceLength(1)
    return edit


def _keys(edits: dict[str, QKeySequenceEdit]) -> dict[str, str]:
    return {name: edit.keySequence().toString() for name, edit in edits.items()}
