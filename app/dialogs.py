"""Help (what the keys do, where to get a checkpoint) and Settings (rebinding keys)."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QKeySequenceEdit, QLabel, QSpinBox,
                               QVBoxLayout)

from core.engines.checkpoints import missing_checkpoint
from core.live.sinks import virtual_camera_help

from .hotkeys import ACTIONS


class HelpDialog(QDialog):
    def __init__(self, hotkeys: dict[str, str], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Facade help")
        rows = "".join(f"<tr><td><b>{hotkeys.get(a.name, a.default_key)}</b>&nbsp;&nbsp;</td><td>{a.label}</td></tr>"
                       for a in ACTIONS)
        text = QLabel(
            "<h3>Getting started</h3>"
            "<ol><li>Pick an avatar on the left (or drop your own portrait there).</li>"
            "<li>Look at the camera with a neutral face, matching the avatar's pose (the onion skin, key O, "
            "helps), and press <b>Calibrate</b>.</li>"
            "<li>Turn on the <b>virtual camera</b> and choose <i>Facade</i> (or <i>OBS Virtual Camera</i>) as "
            "the camera in Zoom, Meet, Discord or OBS. Start Facade before the call app.</li></ol>"
            f"<h3>Keys</h3><table>{rows}</table>"
            f"<h3>Virtual camera</h3><p>{virtual_camera_help()}</p>"
            f"<h3>FOMM engine</h3><p>{missing_checkpoint().advice}.</p>")
        text.setWordWrap(True)
        text.setOpenExternalLinks(False)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class SettingsDialog(QDialog):
    """Rebind keys and set the calibration countdown; ``values()`` gives the result."""

    def __init__(self, hotkeys: dict[str, str], countdown: int, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Facade settings")
        form = QFormLayout()
        self._edits = {}
        for action in ACTIONS:
            edit = QKeySequenceEdit(QKeySequence(hotkeys.get(action.name, action.default_key)))
            edit.setMaximumSequenceLength(1)
            self._edits[action.name] = edit
            form.addRow(action.label, edit)
        self._countdown = QSpinBox()
        self._countdown.setRange(0, 10)
        self._countdown.setSuffix(" s")
        self._countdown.setValue(countdown)
        form.addRow("Calibration countdown", self._countdown)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def values(self) -> tuple[dict[str, str], int]:
        keys = {name: edit.keySequence().toString() for name, edit in self._edits.items()}
        return keys, self._countdown.value()
