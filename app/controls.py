"""The controls on the right of the window: camera, engine, motion and output, with one apply/store pair."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGroupBox, QLabel, QLineEdit, QPushButton,
                               QSlider, QVBoxLayout, QWidget)

from core.compose.compositor import BACKGROUNDS, FITS, OUTPUT_SIZES, TRANSPARENT
from core.engines.checkpoints import missing_checkpoint
from core.engines.choice import DEVICES, PRECISIONS, USED_BY, EngineChoice
from core.engines.strength import MAX_PERCENT, MotionStrength
from core.live.ndi import DEFAULT_SOURCE_NAME

from .settings import AppSettings, AvatarProfile
from .widgets import combo, row, set_checked_quietly

VIDEO_FILE = "__file__"  # the camera box's entry that asks for a video file
_ENGINE_LABELS = {"mesh": "Mesh (no download)", "fomm": "FOMM (neural)", "remote": "Remote GPU…"}


class ControlsPanel(QWidget):
    """Widgets only: the window connects their signals. ``apply`` shows settings, ``store`` reads them back."""

    engine_changed = Signal()  # engine, device, precision or a motion option: the pipeline must be rebuilt
    motion_changed = Signal()  # the head motion or expression strength: applied live
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
        (self.head_motion, head_row), (self.expressions, expressions_row) = (_percent_slider(tip) for tip in (
            "How far the avatar's head turns, moves and leans in, against yours: less for a small or cartoon face",
            "How strongly the avatar plays your expressions: more for a cartoon face"))
        for slider in (self.head_motion, self.expressions):
            slider.valueChanged.connect(lambda *_: self.motion_changed.emit())
        self.mirror_box = QCheckBox("Mirror output  (M)")
        self.overlay_box = QCheckBox("Overlay: landmarks + onion skin  (O)")

        self.size_box = combo(OUTPUT_SIZES, OUTPUT_SIZES[0])
        self.fit_box = combo(FITS, FITS[0])
        self.background_box = combo(BACKGROUNDS, BACKGROUNDS[0])
        for widget in (self.size_box, self.fit_box, self.background_box):
            widget.activated.connect(lambda *_: self.output_changed.emit())
        self.background_note = QLabel("Transparent: only NDI carries it. The virtual camera and recordings show "
                                      "the portrait's own background, the preview a checkerboard.")
        self.background_note.setWordWrap(True)
        self.background_note.setStyleSheet("color:#666;")
        self.background_box.currentTextChanged.connect(
            lambda text: self.background_note.setVisible(text == TRANSPARENT))
        self.vcam_button = QPushButton("Start virtual camera  (V)")
        self.vcam_button.setCheckable(True)
        self.vcam_state = QLabel("Virtual camera: off")
        self.record_button = QPushButton("Record")
        self.record_button.setCheckable(True)
        self.ndi_name = QLineEdit(DEFAULT_SOURCE_NAME)
        self.ndi_name.setToolTip("The source's name in OBS, vMix and other NDI software (after this computer's)")
        self.ndi_button = QPushButton("Send NDI")
        self.ndi_button.setCheckable(True)
        self.ndi_button.setToolTip("The call picture as an NDI source on the network; with a transparent "
                                   "background, the person alone")
        self.ndi_state = QLabel("NDI: off")

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
        form.addRow("Head motion", head_row)
        form.addRow("Expressions", expressions_row)
        form.addRow(self.mirror_box)
        form.addRow(self.overlay_box)
        output = QGroupBox("Output")
        form = QFormLayout(output)
        form.addRow("Size", self.size_box)
        form.addRow("Fit", self.fit_box)
        form.addRow("Background", self.background_box)
        form.addRow(self.background_note)
        for widget in (self.vcam_button, self.vcam_state, self.record_button):
            form.addRow(widget)
        form.addRow("NDI name", self.ndi_name)
        form.addRow(self.ndi_button)
        form.addRow(self.ndi_state)
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
        self.head_motion.setValue(settings.head_motion)
        self.expressions.setValue(settings.expressions)
        self.mirror_box.setChecked(settings.mirror)
        self.overlay_box.setChecked(settings.overlay)
        for box, value in ((self.size_box, settings.output_size), (self.fit_box, settings.fit),
                           (self.background_box, settings.background)):
            if box.findText(value) < 0:  # a size or colour set elsewhere (the settings file)
                box.addItem(value)
            box.setCurrentText(value)
        self.background_note.setVisible(settings.background == TRANSPARENT)
        self.ndi_name.setText(settings.ndi_name)

    def store(self, settings: AppSettings) -> None:
        """Write what the widgets show back into ``settings``."""
        settings.engine = self.engine_choice(settings.engine)
        settings.smoothing = self.smoothing.value() / 100
        settings.head_motion, settings.expressions = self.head_motion.value(), self.expressions.value()
        settings.mirror = self.mirror_box.isChecked()
        settings.overlay = self.overlay_box.isChecked()
        settings.output_size = self.size_box.currentText()
        settings.fit = self.fit_box.currentText()
        settings.background = self.background_box.currentText()
        settings.ndi_name = self.ndi_name.text()

    def engine_choice(self, base: EngineChoice) -> EngineChoice:
        """``base`` (which holds the checkpoint) with the engine options the widgets show."""
        return replace(base, engine=self.engine_box.currentData(), remote=self.remote_field.text().strip(),
                       device=self.device_box.currentText(),
                       precision=self.precision_box.currentText(), relative=self.relative_box.isChecked(),
                       adapt_scale=self.adapt_box.isChecked())

    @property
    def motion(self) -> MotionStrength:
        return MotionStrength.from_percent(self.head_motion.value(), self.expressions.value())

    def profile(self) -> AvatarProfile:
        """The motion settings shown, as an avatar's profile (without its neutral pose)."""
        return AvatarProfile(smoothing=self.smoothing.value() / 100, head_motion=self.head_motion.value(),
                             expressions=self.expressions.value(), relative=self.relative_box.isChecked(),
                             adapt_scale=self.adapt_box.isChecked())

    def show_profile(self, profile: AvatarProfile) -> None:
        """Show an avatar's motion settings: the sliders say so as they move, the engine options quietly (the
        window decides whether the running engine must be rebuilt for them)."""
        self.smoothing.setValue(round(profile.smoothing * 100))
        self.head_motion.setValue(profile.head_motion)
        self.expressions.setValue(profile.expressions)
        set_checked_quietly(self.relative_box, profile.relative)
        set_checked_quietly(self.adapt_box, profile.adapt_scale)

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


def _percent_slider(tip: str) -> tuple[QSlider, QWidget]:
    """A 0 to MAX_PERCENT slider at 100, and a row with it and its value beside it."""
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(0, MAX_PERCENT)
    slider.setValue(100)
    slider.setToolTip(tip)
    label = QLabel("100 %")
    label.setMinimumWidth(label.fontMetrics().horizontalAdvance("200 %"))
    slider.valueChanged.connect(lambda value: label.setText(f"{value} %"))
    return slider, row(slider, label)
