"""The main window: avatars on the left, camera and avatar previews in the middle, controls on the right."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import platformdirs
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QMainWindow, QPushButton, QSizePolicy, QSlider, QSplitter, QVBoxLayout,
                               QWidget)

from core.capture import list_cameras
from core.checkpoints import find_checkpoint, missing_checkpoint_message
from core.engines.factory import EngineChoice
from core.errors import UserError
from core.overlay import camera_view
from models.checkpoint import CheckpointError
from models.config import ConfigError

from . import settings as app_settings
from .dialogs import HelpDialog, SettingsDialog
from .gallery import AvatarGallery
from .session import LiveSession
from .video_view import VideoView

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "avatars"
_PROBLEMS = (UserError, CheckpointError, ConfigError)
_VIDEO_FILTER = "Videos (*.mp4 *.mov *.avi *.mkv *.webm);;All files (*)"


class MainWindow(QMainWindow):
    def __init__(self, store: QSettings, camera: str | None = None, avatar: str | None = None,
                 camera_probe=list_cameras, user_dir: Path | None = None):
        super().__init__()
        self.setWindowTitle("Facade")
        self.store = store
        self.settings = app_settings.load(store)
        if camera is not None:
            self.settings.camera = str(camera)
        if avatar is not None:
            self.settings.avatar = str(avatar)
        self.session = LiveSession(self)
        self.session.frame.connect(self._draw_frame)
        self.session.status.connect(self._on_status)
        self._warnings: dict[str, str] = {}
        self._countdown_left = 0
        self._fullscreen: VideoView | None = None
        self._shortcuts: list[QShortcut] = []
        user_dir = user_dir or Path(platformdirs.user_data_dir("Facade", appauthor=False)) / "avatars"
        self._build(camera_probe, user_dir)
        self._bind_keys()
        if self.settings.geometry is not None:
            self.restoreGeometry(self.settings.geometry)
        else:
            self.resize(1280, 720)
        self._stats_timer = QTimer(self, interval=500, timeout=self._update_status)
        self._stats_timer.start()
        QTimer.singleShot(0, self.restart)

    # Layout.

    def _build(self, camera_probe, user_dir: Path) -> None:
        self.gallery = AvatarGallery(ASSETS, user_dir, self.settings.hidden_avatars)
        self.gallery.chosen.connect(self.choose_avatar)
        self.gallery.problem.connect(lambda text: self._warn("avatar", text))
        add, remove = QPushButton("Add…"), QPushButton("Remove")
        add.clicked.connect(self._add_avatar_dialog)
        remove.clicked.connect(self._remove_avatar)
        left = _column(QLabel("<b>Avatars</b>"), self.gallery, _row(add, remove))
        left.setMaximumWidth(260)

        self.camera_view = VideoView("Starting the camera…")
        self.avatar_view = VideoView("The animated avatar appears here")
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background:#5a3b12; color:#ffe8c2; padding:6px; border-radius:4px;")
        self.banner.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.banner.hide()
        views = QSplitter(Qt.Orientation.Horizontal)
        views.addWidget(_column(QLabel("Camera"), self.camera_view))
        views.addWidget(_column(QLabel("Avatar (what the call sees)"), self.avatar_view))
        self.calibrate_button = QPushButton("Calibrate  (X)")
        self.calibrate_button.setMinimumHeight(40)
        self.calibrate_button.setToolTip("Look at the camera with a neutral face and press to set the neutral pose")
        self.calibrate_button.clicked.connect(self.start_calibration)
        centre = _column(self.banner, views, self.calibrate_button)

        self.camera_box = QComboBox()
        for index in camera_probe():
            self.camera_box.addItem(f"Camera {index}", str(index))
        if self.settings.camera and self.camera_box.findData(self.settings.camera) < 0:
            label = self.settings.camera if not self.settings.camera.isdigit() else f"Camera {self.settings.camera}"
            self.camera_box.addItem(Path(label).name if not label.startswith("Camera") else label, self.settings.camera)
        self.camera_box.addItem("Video file…", "__file__")
        self.camera_box.setCurrentIndex(max(self.camera_box.findData(self.settings.camera), 0))
        self.camera_box.activated.connect(self._camera_chosen)

        self.engine_box = QComboBox()
        self.engine_box.addItem("Mesh (no download)", "mesh")
        self.engine_box.addItem("FOMM (neural)", "fomm")
        self.engine_note = QLabel()
        self.engine_note.setWordWrap(True)
        self.engine_note.setStyleSheet("color:#666;")
        self.load_model = QPushButton("Load model…")
        self.load_model.clicked.connect(self._load_model_dialog)
        self.device_box = _combo(("auto", "cpu", "cuda"), self.settings.device)
        self.precision_box = _combo(("auto", "fp32", "fp16", "bf16"), self.settings.precision)
        self.relative_box = QCheckBox("Relative motion")
        self.relative_box.setChecked(self.settings.relative)
        self.adapt_box = QCheckBox("Adapt movement scale")
        self.adapt_box.setChecked(self.settings.adapt_scale)
        self._refresh_engine_box()
        for widget in (self.engine_box, self.device_box, self.precision_box):
            widget.activated.connect(lambda *_: self.restart())
        for box in (self.relative_box, self.adapt_box):
            box.toggled.connect(lambda *_: self.restart())

        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setRange(0, 100)
        self.smoothing.setValue(int(self.settings.smoothing * 100))
        self.smoothing.valueChanged.connect(lambda v: self.session.set_smoothing(v / 100))
        self.mirror_box = QCheckBox("Mirror output  (M)")
        self.mirror_box.setChecked(self.settings.mirror)
        self.mirror_box.toggled.connect(self.session.set_mirror)
        self.session.set_mirror(self.settings.mirror)
        self.session.set_smoothing(self.settings.smoothing)
        self.overlay_box = QCheckBox("Overlay: landmarks + onion skin  (O)")
        self.overlay_box.setChecked(self.settings.overlay)

        self.vcam_button = QPushButton("Start virtual camera  (V)")
        self.vcam_button.setCheckable(True)
        self.vcam_button.toggled.connect(self.set_virtual_camera)
        self.vcam_state = QLabel("Virtual camera: off")
        self.record_button = QPushButton("Record…")
        self.record_button.setCheckable(True)
        self.record_button.toggled.connect(self._record_toggled)

        source = QGroupBox("Camera")
        QFormLayout(source).addRow(self.camera_box)
        engine = QGroupBox("Engine")
        form = QFormLayout(engine)
        form.addRow(self.engine_box)
        form.addRow(self.engine_note)
        form.addRow(self.load_model)
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
        form.addRow(self.vcam_button)
        form.addRow(self.vcam_state)
        form.addRow(self.record_button)
        right = _column(source, engine, motion, output)
        right.layout().addStretch(1)
        right.setMaximumWidth(300)

        body = QWidget()
        layout = QHBoxLayout(body)
        layout.addWidget(left)
        layout.addWidget(centre, 1)
        layout.addWidget(right)
        self.setCentralWidget(body)

        self.status_engine, self.status_fps, self.status_vcam = QLabel(), QLabel(), QLabel()
        for label in (self.status_engine, self.status_fps, self.status_vcam):
            self.statusBar().addPermanentWidget(label)
        menu = self.menuBar()
        settings_action = QAction("Settings…", self, triggered=self._settings_dialog)
        help_action = QAction("Help", self, triggered=self.show_help, shortcut=QKeySequence.StandardKey.HelpContents)
        menu.addAction(settings_action)
        menu.addAction(help_action)

    def _bind_keys(self) -> None:
        for shortcut in self._shortcuts:
            shortcut.setParent(None)
        handlers = {"calibrate": self.start_calibration, "calibrate_alt": self.start_calibration,
                    "virtual_camera": self.vcam_button.toggle, "mirror": self.mirror_box.toggle,
                    "overlay": self.overlay_box.toggle, "fullscreen": self.toggle_fullscreen}
        handlers.update({f"avatar_{i}": (lambda i=i: self._avatar_by_number(i)) for i in range(1, 10)})
        self._shortcuts = []
        for name, handler in handlers.items():
            key = self.settings.hotkeys.get(name)
            if key:
                shortcut = QShortcut(QKeySequence(key), self, activated=handler)
                shortcut.setContext(Qt.ShortcutContext.ApplicationShortcut)
                self._shortcuts.append(shortcut)

    # Starting and choosing.

    def engine_choice(self) -> EngineChoice:
        checkpoint = Path(self.settings.checkpoint) if self.settings.checkpoint else None
        return EngineChoice(engine=self.engine_box.currentData(), checkpoint=checkpoint,
                            device=self.device_box.currentText(), precision=self.precision_box.currentText(),
                            relative=self.relative_box.isChecked(), adapt_scale=self.adapt_box.isChecked())

    def restart(self) -> None:
        """(Re)build the pipeline from the current choices; problems go to the banner, never a crash."""
        avatar = self.settings.avatar or (self.gallery.paths()[0] if self.gallery.count() else "")
        if not avatar:
            self._warn("avatar", "Add a portrait to the gallery to start")
            return
        self.vcam_button.setChecked(False)
        self.record_button.setChecked(False)
        self.camera_view.set_placeholder(f"Opening {self.camera_box.currentText()}…")
        try:
            self.session.start(self.settings.camera, avatar, self.engine_choice())
        except _PROBLEMS as exc:
            self._warn("start", str(exc))
            if self.engine_box.currentData() == "fomm":  # keep the user going on the engine that needs nothing
                self.engine_box.setCurrentIndex(self.engine_box.findData("mesh"))
                self.restart()
            return
        self._clear("start")
        is_fomm = self.session.pipeline.engine.name == "fomm"
        for widget in (self.device_box, self.precision_box, self.relative_box, self.adapt_box):
            widget.setEnabled(is_fomm)  # options of the neural engine only
        self.settings.avatar = avatar
        self.gallery.select_path(avatar)
        engine = self.session.pipeline.engine
        if engine.name == "fomm" and engine.device == "cpu":
            self._warn("cpu", "FOMM is running on the CPU: expect a few frames per second. "
                              "Use the mesh engine, or a machine with an NVIDIA GPU.")
        else:
            self._clear("cpu")

    def choose_avatar(self, path: str) -> None:
        try:
            if self.session.pipeline is None:
                self.settings.avatar = path
                self.restart()
                return
            self.session.set_avatar(path)
        except _PROBLEMS as exc:
            self._warn("avatar", f"{Path(path).name}: {str(exc).split(': ', 1)[-1]}")
            return
        self._clear("avatar")
        self.settings.avatar = path
        self.gallery.select_path(path)

    def _avatar_by_number(self, number: int) -> None:
        paths = self.gallery.paths()
        if number <= len(paths):
            self.choose_avatar(paths[number - 1])

    def _camera_chosen(self, index: int) -> None:
        data = self.camera_box.itemData(index)
        if data == "__file__":
            path, _ = QFileDialog.getOpenFileName(self, "Drive the avatar from a video", "", _VIDEO_FILTER)
            if not path:
                self.camera_box.setCurrentIndex(max(self.camera_box.findData(self.settings.camera), 0))
                return
            self.camera_box.insertItem(index, Path(path).name, path)
            self.camera_box.setCurrentIndex(index)
            data = path
        self.settings.camera = data
        self.restart()

    def _refresh_engine_box(self) -> None:
        has_checkpoint = bool(self.settings.checkpoint) or find_checkpoint() is not None
        item = self.engine_box.model().item(self.engine_box.findData("fomm"))
        item.setEnabled(has_checkpoint)
        item.setToolTip("" if has_checkpoint else missing_checkpoint_message())
        wanted = self.settings.engine if has_checkpoint else "mesh"
        self.engine_box.setCurrentIndex(self.engine_box.findData(wanted))
        self.engine_note.setText("" if has_checkpoint else
                                 "Mesh needs no download. For the neural FOMM engine, get a checkpoint "
                                 "(Help tells where) and use Load model…")
        self.engine_note.setToolTip("" if has_checkpoint else missing_checkpoint_message())
        self.engine_note.setVisible(not has_checkpoint)

    def load_checkpoint(self, path: str) -> None:
        self.settings.checkpoint = path
        self.settings.engine = "fomm"
        self._refresh_engine_box()
        self.restart()

    def _load_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load a FOMM checkpoint", "",
                                              "Checkpoints (*.pth.tar *.pth *.safetensors)")
        if path:
            self.load_checkpoint(path)

    def _add_avatar_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add portraits", "", "Images (*.png *.jpg *.jpeg *.webp *.bmp)")
        added = self.gallery.add_files(files)
        if added:
            self.choose_avatar(added)

    def _remove_avatar(self) -> None:
        item = self.gallery.currentItem()
        if item is not None:
            self.gallery.remove(item.data(Qt.ItemDataRole.UserRole))
            self.settings.hidden_avatars = sorted(self.gallery.hidden)

    # Calibration.

    def start_calibration(self) -> None:
        if self.settings.countdown <= 0:
            self.session.calibrate()
            return
        self._countdown_left = self.settings.countdown
        self._tick_countdown()

    def _tick_countdown(self) -> None:
        if self._countdown_left <= 0:
            self.camera_view.set_caption("")
            self.session.calibrate()
            return
        self.camera_view.set_caption(str(self._countdown_left))
        self._countdown_left -= 1
        QTimer.singleShot(1000, self._tick_countdown)

    # Outputs.

    def set_virtual_camera(self, on: bool) -> None:
        if on:
            try:
                device = self.session.start_virtual_camera()
            except _PROBLEMS as exc:
                self._warn("vcam", str(exc))
                _set_checked_quietly(self.vcam_button, False)
                return
            self._clear("vcam")
            self.vcam_state.setText(f"Virtual camera: on ({device})")
            self.vcam_button.setText("Stop virtual camera  (V)")
        else:
            self.session.stop_virtual_camera()
            self.vcam_state.setText("Virtual camera: off")
            self.vcam_button.setText("Start virtual camera  (V)")

    def start_recording(self, path: str) -> None:
        try:
            self.session.start_recording(path)
        except _PROBLEMS as exc:
            self._warn("record", str(exc))
            return
        self._clear("record")
        _set_checked_quietly(self.record_button, True)
        self.record_button.setText(f"Stop recording ({Path(path).name})")

    def stop_recording(self) -> None:
        path = self.session.stop_recording()
        self.record_button.setText("Record…")
        if path:
            self.statusBar().showMessage(f"Saved {path}", 8000)

    def _record_toggled(self, on: bool) -> None:
        if not on:
            self.stop_recording()
            return
        default = Path.home() / f"facade-{datetime.now():%Y%m%d-%H%M%S}.mp4"
        path, _ = QFileDialog.getSaveFileName(self, "Record the avatar to", str(default), "MP4 video (*.mp4)")
        if path:
            self.start_recording(path)
        else:
            _set_checked_quietly(self.record_button, False)

    def toggle_fullscreen(self) -> None:
        if self._fullscreen is not None:
            self._fullscreen.close()
            self._fullscreen = None
            return
        self._fullscreen = VideoView("")
        self._fullscreen.setWindowTitle("Facade: avatar")
        QShortcut(QKeySequence("Escape"), self._fullscreen, activated=self.toggle_fullscreen)
        QShortcut(QKeySequence(self.settings.hotkeys.get("fullscreen", "F")), self._fullscreen,
                  activated=self.toggle_fullscreen)
        self._fullscreen.showFullScreen()

    # Dialogs.

    def show_help(self) -> None:
        HelpDialog(self.settings.hotkeys, self).exec()

    def _settings_dialog(self) -> None:
        dialog = SettingsDialog(self.settings.hotkeys, self.settings.countdown, self)
        if dialog.exec():
            self.settings.hotkeys, self.settings.countdown = dialog.values()
            self._bind_keys()

    # What the pipeline reports.

    def _draw_frame(self, _nudge=None) -> None:
        frame = self.session.take_frame()
        if frame is None:
            return
        self.avatar_view.show_frame(frame.avatar)
        if self._fullscreen is not None:
            self._fullscreen.show_frame(frame.avatar)
        onion = self.session.pipeline.avatar if (self.overlay_box.isChecked() and self.session.pipeline) else None
        view = camera_view(frame, landmarks=self.overlay_box.isChecked(), onion=onion)
        if view is not None:
            self.camera_view.show_frame(view)

    def _on_status(self, kind: str, text: str) -> None:
        if kind == "face":
            self._flag("face", text != "face found", "No face in view: look at the camera")
        elif kind == "light":
            self._flag("light", text != "light ok", "Low light: add light in front of you for steadier tracking")
        elif kind == "calibrated":
            self.statusBar().showMessage("Neutral pose set", 3000)
        elif kind == "source":
            self._flag("source", text not in ("live", "stopped"), text)
        else:
            self._warn(kind, text)

    def _update_status(self) -> None:
        pipeline = self.session.pipeline
        if pipeline is None:
            self.status_engine.setText("stopped")
            return
        summary = pipeline.summary()
        calibrated = "" if pipeline.calibrated else "  ·  not calibrated"
        self.status_engine.setText(f"{summary['engine']} on {summary['device']}{calibrated}")
        self.status_fps.setText(f"{summary['fps_out']:.0f} fps  ·  {summary['latency_ms_p50']:.0f} ms  ·  "
                                f"{summary['frames_dropped']} dropped")
        device = self.session.virtual_camera_device
        self.status_vcam.setText(f"virtual camera: {device}" if device else "virtual camera: off")

    def _flag(self, kind: str, on: bool, text: str) -> None:
        if on:
            self._warn(kind, text)
        else:
            self._clear(kind)

    def _warn(self, kind: str, text: str) -> None:
        self._warnings[kind] = text
        self._show_warnings()

    def _clear(self, kind: str) -> None:
        if self._warnings.pop(kind, None) is not None:
            self._show_warnings()

    def _show_warnings(self) -> None:
        self.banner.setText("\n".join(self._warnings.values()))
        self.banner.setVisible(bool(self._warnings))

    @property
    def warnings(self) -> dict[str, str]:
        return dict(self._warnings)

    # Closing.

    def closeEvent(self, event) -> None:
        self._stats_timer.stop()
        if self._fullscreen is not None:
            self._fullscreen.close()
        self.settings.engine = self.engine_box.currentData()
        self.settings.device = self.device_box.currentText()
        self.settings.precision = self.precision_box.currentText()
        self.settings.relative = self.relative_box.isChecked()
        self.settings.adapt_scale = self.adapt_box.isChecked()
        self.settings.smoothing = self.smoothing.value() / 100
        self.settings.mirror = self.mirror_box.isChecked()
        self.settings.overlay = self.overlay_box.isChecked()
        self.settings.geometry = self.saveGeometry()
        app_settings.save(self.store, self.settings)
        self.session.stop()
        super().closeEvent(event)


def _set_checked_quietly(button: QPushButton, on: bool) -> None:
    """Show a toggle's state without running its handler again."""
    button.blockSignals(True)
    button.setChecked(on)
    button.blockSignals(False)


def _column(*widgets) -> QWidget:
    return _box(QVBoxLayout, widgets)


def _row(*widgets) -> QWidget:
    return _box(QHBoxLayout, widgets)


def _box(layout_class, widgets) -> QWidget:
    box = QWidget()
    layout = layout_class(box)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    return box


def _combo(values, current: str) -> QComboBox:
    box = QComboBox()
    box.addItems(list(values))
    box.setCurrentText(current)
    return box
