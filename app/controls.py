"""The controls on the right of the window: camera, engine, motion and output, with one apply/store pair."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGroupBox, QLabel, QLineEdit, QPushButton,
                               QSlider, QVBoxLayout, QWidget)

from core.compose.compositor import BACKGROUNDS, FITS, OUTPUT_SIZES
from core.engines.checkpoints import missing_checkpoint
from core.engines.choice import DEVICES, PRECISIONS, USED_BY, EngineChoice

from .settings import AppSettings
from .widgets import combo

VIDEO_FILE = "__file__"  # the camera box's entry that asks for a video file
_ENGINE_LABELS = {"mesh": "Mesh (no download)", "fomm": "FOMM (neural)", "remote": "Remote GPU…"}


class ControlsPanel(QWidget):
    """Widgets only: the window connects their signals. ``apply`` shows settings, ``store`` reads them back."""

    engine_changed = Signal()  # engine, device, precision or a motion option: the pipeline must be rebuilt
    output_changed = Signal()  # the call picture's size, fit or background

    def __init__(self, cameras: list[int], parent=None):
        super().__init__(parent)
        self.camera_box = QComboBox()
        self.set_cameras(cameras)

        self.engine_box = QComboBox()
        for name, label in _ENGINE_LABELS.items():
            self.engine_box.addItem(label, name)
        self.engine_note = QLabel()
        self.engine_note.setWordWrap(True)
        self.engine_note.setStyleSheet("color:#666;")
        self.load_model = QPushButton("Load model…")
        self.remote_field = QLineEdit()
        self.remote_field.setPlaceholderText("facade1@… (from `python main.py serve`) or its file")
        self.remote_field.setToolTip("The pairing string a Facade worker printed: FOMM runs there, on its GPU")
        self.remote_field.editingFinished.connect(self._remote_edited)  # also on losing focus: only if changed
        self.engine_box.currentIndexChanged.connect(
            lambda *_: self.remote_field.setVisible(self.engine_box.currentData() == "remote"))
        self.device_box = combo(DEVICES, EngineChoice.device)
        self.precision_box = combo(PRECISIONS, EngineChoice.precision)
        self.relative_box = QCheckBox("Relative motion")
        self.adapt_box = QCheckBox("Adapt movement scale")
        for widget in (self.engine_box, self.device_box, self.precision_box):
            widget.activated.connect(lambda *_: self.engine_changed.emit())
        for box in (self.relative_box, self.adapt_box):
            box.toggled.connect(lambda *_: self.engine_changed.emit())

        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setRange(0, 100)
        self.mirror_box = QCheckBox("Mirror output  (M)")
        self.overlay_box = QCheckBox("Overlay: landmarks + onion skin  (O)")

        self.size_box = combo(OUTPUT_SIZES, OUTPUT_SIZES[0])
        self.fit_box = combo(FITS, FITS[0])
        self.background_box = combo(BACKGROUNDS, BACKGROUNDS[0])
        for widget in (self.size_box, self.fit_box, self.background_box):
            widget.activated.connect(lambda *_: self.output_changed.emit())
        self.vcam_button = QPushButton("Start virtual camera  (V)")
        self.vcam_button.setCheckable(True)
        self.vcam_state = QLabel("Virtual camera: off")
        self.record_button = QPushButton("Record")
        self.record_button.setCheckable(True)

        source = QGroupBox("Camera")
        QFormLayout(source).addRow(self.camera_box)
        engine = QGroupBox("Engine")
        form = QFormLayout(engine)
        for widget in (self.engine_box, self.remote_field, self.engine_note, self.load_model):
            form.addRow(widget)
        form.addRow("Device", self.device_box)
        form.addRow("Precision", self.precision_box)
        form.addRow(self.relative_box)
        form.addRow(self.adapt_box)
        motion = QGroupBox("Motion")
        form = QFormLayout(motion)
        form.addRow("Smoothing", self.smoothing)
        form.addRow(self.mirror_box)
        form.addRow(self.overlay_box)
        output = QGroupBox("Output")
        form = QFormLayout(output)
        form.addRow("Size", self.size_box)
        form.addRow("Fit", self.fit_box)
        form.addRow("Background", self.background_box)
        for widget in (self.vcam_button, self.vcam_state, self.record_button):
            form.addRow(widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for group in (source, engine, motion, output):
            layout.addWidget(group)
        layout.addStretch(1)
        self.setMaximumWidth(300)

    def apply(self, settings: AppSettings, has_checkpoint: bool) -> None:
        """Show ``settings``; FOMM is offered only when a checkpoint is known."""
        self.show_camera(settings.camera)
        choice = settings.engine
        item = self.engine_box.model().item(self.engine_box.findData("fomm"))
        item.setEnabled(has_checkpoint)
        advice = "" if has_checkpoint else missing_checkpoint().advice
        item.setToolTip(advice)
        usable = choice.engine == "remote" or (choice.engine == "fomm" and has_checkpoint)
        self.engine_box.setCurrentIndex(self.engine_box.findData(choice.engine if usable else "mesh"))
        self.remote_field.setText(choice.remote)
        self.remote_field.setVisible(self.engine_box.currentData() == "remote")
        self.engine_note.setText("" if has_checkpoint else
                                 "Mesh needs no download. For the neural FOMM engine, get a checkpoint "
                                 "(Help tells where) and use Load model…")
        self.engine_note.setToolTip(advice)
        self.engine_note.setVisible(not has_checkpoint)
        self.device_box.setCurrentText(choice.device)
        self.precision_box.setCurrentText(choice.precision)
        self.relative_box.setChecked(choice.relative)
        self.adapt_box.setChecked(choice.adapt_scale)
        self.smoothing.setValue(int(settings.smoothing * 100))
        self.mirror_box.setChecked(settings.mirror)
        self.overlay_box.setChecked(settings.overlay)
        for box, value in ((self.size_box, settings.output_size), (self.fit_box, settings.fit),
                           (self.background_box, settings.background)):
            if box.findText(value) < 0:  # a size or colour set elsewhere (the settings file)
                box.addItem(value)
            box.setCurrentText(value)

    def store(self, settings: AppSettings) -> None:
        """Write what the widgets show back into ``settings``."""
        settings.engine = self.engine_choice(settings.engine)
        settings.smoothing = self.smoothing.value() / 100
        settings.mirror = self.mirror_box.isChecked()
        settings.overlay = self.overlay_box.isChecked()
        settings.output_size = self.size_box.currentText()
        settings.fit = self.fit_box.currentText()
        settings.background = self.background_box.currentText()

    def engine_choice(self, base: EngineChoice) -> EngineChoice:
        """``base`` (which holds the checkpoint) with the engine options the widgets show."""
        return replace(base, engine=self.engine_box.currentData(), remote=self.remote_field.text().strip(),
                       device=self.device_box.currentText(),
                       precision=self.precision_box.currentText(), relative=self.relative_box.isChecked(),
                       adapt_scale=self.adapt_box.isChecked())

    def set_cameras(self, cameras: list[int]) -> None:
        """List the cameras found, then the entry that asks for a video file."""
        self.camera_box.clear()
        for index in cameras:
            self.camera_box.addItem(f"Camera {index}", str(index))
        self.camera_box.addItem("Video file…", VIDEO_FILE)

    def show_camera(self, camera: str) -> None:
        """Select ``camera`` in the camera box, adding it (a video file, a camera not probed) if needed."""
        if camera and self.camera_box.findData(camera) < 0:
            label = f"Camera {camera}" if camera.isdigit() else Path(camera).name
            self.camera_box.insertItem(self.camera_box.count() - 1, label, camera)
        self.camera_box.setCurrentIndex(max(self.camera_box.findData(camera), 0))

    def _remote_edited(self) -> None:
        if self.remote_field.isModified():
            self.remote_field.setModified(False)
            # Editing the string (open after a failed connection, while mesh runs) is asking for the remote engine.
            self.engine_box.setCurrentIndex(self.engine_box.findData("remote"))
            self.engine_changed.emit()

    def show_hotkeys(self, hotkeys: dict[str, str]) -> None:
        """Label the output buttons by what they do now, with their current keys."""
        vcam, record = hotkeys.get("virtual_camera", ""), hotkeys.get("record", "")
        self.vcam_button.setText(f"Stop virtual camera  ({vcam})" if self.vcam_button.isChecked()
                                 else f"Start virtual camera  ({vcam})")
        self.record_button.setText(f"Stop recording  ({record})" if self.record_button.isChecked()
                                   else f"Record  ({record})")

    def set_engine_running(self, name: str) -> None:
        """Grey out the options that the running engine does not use."""
        for option, widget in (("device", self.device_box), ("precision", self.precision_box),
                               ("relative", self.relative_box), ("adapt_scale", self.adapt_box)):
            widget.setEnabled(option in USED_BY[name])
