"""The main window: avatars on the left, camera and avatar previews in the middle, controls on the right."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QLineEdit, QMainWindow, QPushButton, QSplitter,
                               QWidget)

from core.compose.canvas import over_checkerboard
from core.engines.checkpoints import find_checkpoint, identify_checkpoint
from core.engines.choice import USED_BY
from core.control.actions import MAX_TEXT, ControlError, toggled
from core.errors import UserError
from core.live.capture import list_cameras
from core.live.builder import AvatarError
from core.live.events import Event, EventKind, SourceState
from core.link.pairing import parse_pairing
from core.live.overlay import camera_view
from core.media.files import ensure_folder
from core.paths import APP_NAME, BUNDLED_AVATARS, default_recordings_dir, new_recording_path, user_data_dir
from core.tools.crash_log import PreviousCrash

from . import settings as app_settings
from .banner import Banner, Concern
from .control import ControlBridge
from .controls import VIDEO_FILE, ControlsPanel
from .dialogs import HelpDialog, SettingsDialog
from .gallery import AvatarGallery
from .global_keys import GlobalKeys
from .hotkeys import ACTIONS, BY_NAME
from .session import LiveSession
from .video_view import VideoView
from .widgets import column, row, set_checked_quietly

_VIDEO_FILTER = "Videos (*.mp4 *.mov *.avi *.mkv *.webm);;All files (*)"
_FIRST_SIZE = (1280, 720)  # the window's size on first start; later starts restore the user's
_SAVE_DELAY_MS = 300  # a slider dragged or keys pressed in a row are saved once


class MainWindow(QMainWindow):
    def __init__(self, store: QSettings, camera: str | None = None, avatar: str | None = None,
                 camera_probe=list_cameras, user_dir: Path | None = None):
        super().__init__()
        self.setWindowTitle(APP_NAME)
        self.store = store
        self.settings = app_settings.load(store)
        if camera is not None:
            self.settings.camera = str(camera)
        if avatar is not None:
            self.settings.avatar = str(Path(avatar).expanduser().resolve())  # as the gallery names its paths
        self.session = LiveSession(self)
        self.session.frame.connect(self._draw_frame)
        self.session.event.connect(self._on_event)
        self.session.set_hidden(False, self.settings.hide_text)
        self._countdown_left = 0
        self._closed = False
        self._fullscreen: VideoView | None = None
        self._help: HelpDialog | None = None  # made the first time they are asked for, then shown again
        self._settings_form: SettingsDialog | None = None
        self._shortcuts: list[QShortcut] = []
        self._inherited_neutral = None  # the neutral pose the avatar on the call came with from the one before
        self._camera_probe = camera_probe
        # The pairing string that last connected: the only one stored, so a typo never comes back at each start.
        self._remote_ok = self.settings.engine.remote if _is_pairing(self.settings.engine.remote) else ""
        # Settings are written soon after each change, not only at a clean exit: a crash must not lose them.
        self._save_timer = QTimer(self, singleShot=True, interval=_SAVE_DELAY_MS, timeout=self._save_settings)
        self._build(camera_probe(), user_dir or user_data_dir("avatars"))
        self._bind_keys()
        self.control = ControlBridge(self)
        self._apply_control()
        self.global_keys = GlobalKeys(self)
        self.global_keys.pressed.connect(self.press_key)
        self.global_keys.settled.connect(self._show_global_keys)
        self._bound_keys: dict[str, str] = {}  # Wayland: the global keys as the desktop bound them
        self._apply_global_keys()
        if self.settings.geometry is not None:
            self.restoreGeometry(self.settings.geometry)
        else:
            self.resize(*_FIRST_SIZE)
        self._stats_timer = QTimer(self, interval=500, timeout=self._update_status)
        self._stats_timer.start()
        QTimer.singleShot(0, self.restart)

    # Layout.

    def _build(self, cameras: list[int], user_dir: Path) -> None:
        self.gallery = AvatarGallery(BUNDLED_AVATARS, user_dir, self.settings.hidden_avatars)
        self.gallery.chosen.connect(self.choose_avatar)
        self.gallery.problem.connect(lambda text: self.banner.warn(Concern.AVATAR, text))
        add, remove = QPushButton("Add…"), QPushButton("Remove")
        add.clicked.connect(self._add_avatar_dialog)
        remove.clicked.connect(self._remove_avatar)
        left = column(QLabel("<b>Avatars</b>"), self.gallery, row(add, remove))
        left.setMaximumWidth(260)

        self.camera_view = VideoView("Starting the camera…")
        self.avatar_view = VideoView("The animated avatar appears here")
        self.banner = Banner()
        views = QSplitter(Qt.Orientation.Horizontal)
        views.addWidget(column(QLabel("Camera"), self.camera_view))
        views.addWidget(column(QLabel("Avatar (what the call sees)"), self.avatar_view))
        self.calibrate_button = QPushButton("Calibrate  (X)")
        self.calibrate_button.setMinimumHeight(40)
        self.calibrate_button.setToolTip("Look at the camera with a neutral face and press to set the neutral pose")
        self.calibrate_button.clicked.connect(self.start_calibration)
        self.hide_button = QPushButton("Hide  (H)", checkable=True)
        self.hide_button.setMinimumHeight(40)
        self.hide_button.setToolTip("Put a still card on the call instead of the avatar; press again to show it")
        self.hide_button.toggled.connect(self.set_hidden)
        self.hide_text = QLineEdit(self.settings.hide_text)
        self.hide_text.setPlaceholderText("The card's line, e.g. Be right back")
        self.hide_text.setMaxLength(MAX_TEXT)
        self.hide_text.editingFinished.connect(lambda: self._set_hide_text(self.hide_text.text()))
        centre = column(self.banner, views, row(self.calibrate_button, self.hide_button, self.hide_text))

        self.controls = controls = ControlsPanel(cameras)
        controls.apply(self.settings, self._has_checkpoint())
        controls.camera_box.activated.connect(self._camera_chosen)
        controls.engine_changed.connect(self.restart)
        controls.engine_box.activated.connect(self._engine_picked)
        controls.output_changed.connect(self._output_changed)
        controls.load_model.clicked.connect(self._load_model_dialog)
        controls.smoothing.valueChanged.connect(lambda v: self.session.set_smoothing(v / 100))
        controls.motion_changed.connect(lambda: self.session.set_motion(controls.motion))
        controls.mirror_box.toggled.connect(self.session.set_mirror)
        controls.vcam_button.toggled.connect(self.set_virtual_camera)
        controls.ndi_button.toggled.connect(self.set_ndi)
        controls.record_button.toggled.connect(self._record_toggled)
        self.session.set_mirror(self.settings.mirror)
        self.session.set_smoothing(self.settings.smoothing)
        self.session.set_motion(controls.motion)
        for changed in (controls.smoothing.valueChanged, controls.mirror_box.toggled, controls.overlay_box.toggled,
                        controls.output_changed, controls.motion_changed):
            changed.connect(self.save_settings_soon)

        body = QWidget()
        layout = QHBoxLayout(body)
        layout.addWidget(left)
        layout.addWidget(centre, 1)
        layout.addWidget(controls)
        self.setCentralWidget(body)

        self.status_engine, self.status_fps, self.status_vcam = QLabel(), QLabel(), QLabel()
        self.status_record = QLabel()
        self.status_record.setStyleSheet("color:#c62828;")
        for label in (self.status_record, self.status_engine, self.status_fps, self.status_vcam):
            self.statusBar().addPermanentWidget(label)
        menu = self.menuBar()
        settings_action = QAction("Settings…", self, triggered=self._settings_dialog)
        help_action = QAction("Help", self, triggered=self.show_help, shortcut=QKeySequence.StandardKey.HelpContents)
        menu.addAction(settings_action)
        menu.addAction(help_action)

    def _bind_keys(self) -> None:
        for shortcut in self._shortcuts:
            shortcut.setParent(None)
        self._shortcuts = []
        for action in ACTIONS:
            key = self.settings.hotkeys.get(action.name)
            if key:
                shortcut = QShortcut(QKeySequence(key), self, activated=partial(self.press_key, action.name))
                shortcut.setContext(Qt.ShortcutContext.ApplicationShortcut)
                self._shortcuts.append(shortcut)
        self.controls.show_hotkeys(self.settings.hotkeys)

    def press_key(self, name: str) -> None:
        """Do what the key of action ``name`` does, pressed in the window or (a global key) anywhere: the
        control API's action, so a key, a Stream Deck and a script do the same; what cannot be done is said."""
        key = BY_NAME[name]
        if key.command is None:  # what only the window has
            {"overlay": self.controls.overlay_box.toggle, "fullscreen": self.toggle_fullscreen}[name]()
            return
        try:
            self.control.apply(toggled(key.action, self.control.state()))
        except ControlError as exc:
            if str(exc) not in self.warnings.values():  # the banner may say it already
                self.statusBar().showMessage(str(exc), 5000)
        self.control.publish()

    # Starting and choosing.

    def restart(self) -> None:
        """(Re)build the pipeline from the current choices; problems go to the banner, never a crash."""
        if self._closed:  # a widget losing focus as the window closes must not start a new pipeline
            return
        self._remember_profile()
        avatar = self.settings.avatar or (self.gallery.paths()[0] if self.gallery.count() else "")
        if not avatar:
            self.banner.warn(Concern.AVATAR, "Add a portrait to the gallery to start")
            return
        c = self.controls
        choice = c.engine_choice(self.settings.engine)
        if choice.engine == "remote" and not choice.remote:  # nothing to connect to yet: keep what runs
            self.banner.warn(Concern.START, "Paste the pairing string of a Facade worker (the line "
                                            "`python main.py serve` printed there) into the field under Engine")
            c.remote_field.setFocus()
            return
        self.settings.engine = choice
        c.vcam_button.setChecked(False)
        c.ndi_button.setChecked(False)
        c.record_button.setChecked(False)
        self.camera_view.set_placeholder(f"Opening {c.camera_box.currentText()}…")
        try:
            avatar = self._start_with_an_avatar(avatar)
        except UserError as exc:
            self.camera_view.set_placeholder("Not running: see the message above")
            if choice.engine in ("fomm", "remote") and not isinstance(exc, AvatarError):
                self._fall_back_to_mesh(choice.engine, exc)
            else:
                self.banner.warn(Concern.START, str(exc))
            return
        self.banner.clear(Concern.START)
        self._inherited_neutral = None
        profile = self.settings.profiles.get(avatar)
        if profile is not None and profile.neutral is not None:
            self.session.pipeline.set_neutral(profile.neutral)
        engine = self.session.pipeline.engine
        if choice.engine != "mesh":  # the engine chosen runs: its earlier failure is over
            self.banner.clear(Concern.ENGINE)
        if engine.name == "remote":
            self._remote_ok = choice.remote
        c.set_engine_running(engine.name)
        self.settings.avatar = avatar
        self.gallery.select_path(avatar)
        self.settings.hidden_avatars = sorted(self.gallery.hidden)
        self.save_settings_soon()
        self._show_call_picture(self.session.pipeline.rest_picture())  # the avatar at once, before the camera
        self.banner.set(Concern.CPU, engine.name == "fomm" and engine.device == "cpu",
                        "FOMM is running on the CPU: expect a few frames per second. "
                        "Use the mesh engine, or a machine with an NVIDIA GPU.")

    def _fall_back_to_mesh(self, failed: str, exc: UserError) -> None:
        """Say why the engine chosen did not start (under its own key: the mesh start clears only START's) and
        carry on with the engine that needs nothing; a pairing string that failed stays open to correct."""
        c = self.controls
        name = c.engine_box.itemText(c.engine_box.findData(failed)).rstrip("…")
        fix = ("correct the pairing string under Engine" if failed == "remote"
               else "Load model… takes another checkpoint")
        self.banner.warn(Concern.ENGINE, f"{name} did not start: {exc}. The mesh engine runs instead; {fix}.")
        c.engine_box.setCurrentIndex(c.engine_box.findData("mesh"))
        self.restart()
        if failed == "remote":
            c.remote_field.show()
            c.remote_field.setFocus()
            c.remote_field.selectAll()

    def _engine_picked(self, index: int) -> None:
        """Mesh picked by hand: an earlier engine's failure no longer matters."""
        c = self.controls
        if c.engine_box.itemData(index) == "mesh":
            self.banner.clear(Concern.ENGINE)
            c.remote_field.hide()

    def _start_with_an_avatar(self, avatar: str) -> str:
        """Start with ``avatar``, or, if it cannot be used, with the gallery's first portrait (saying so);
        returns the one started with."""
        try:
            self.session.start(self.settings.camera, avatar, self.settings.engine,
                               app_settings.output_settings(self.settings))
            return avatar
        except AvatarError as exc:
            fallback = next((p for p in self.gallery.paths() if p != avatar), None)
            if fallback is None:
                raise
            self.banner.warn(Concern.AVATAR, f"{exc}. Showing {Path(fallback).stem} instead.")
        self.session.start(self.settings.camera, fallback, self.settings.engine,
                           app_settings.output_settings(self.settings))
        return fallback

    def choose_avatar(self, path: str) -> None:
        self._remember_profile()
        try:
            if self.session.pipeline is None:
                self.settings.avatar = path
                self._show_profile(path)
                self.restart()
                return
            neutral = self.session.pipeline.neutral
            self.session.set_avatar(path)
        except UserError as exc:
            self.banner.warn(Concern.AVATAR, str(exc))
            return
        self.banner.clear(Concern.AVATAR)
        self.settings.avatar = path
        self._inherited_neutral = neutral
        self._take_profile(path)
        self.gallery.select_path(path)
        self.save_settings_soon()
        if self.session.pipeline.source.state != SourceState.LIVE:  # no camera frames to show it with
            self._show_call_picture(self.session.pipeline.rest_picture())

    # Per-avatar profiles: each avatar keeps the motion settings and the neutral pose it was last used with.

    def _remember_profile(self) -> None:
        """Keep what the avatar on the call is used with as its profile: the motion settings shown, and the
        neutral pose if one was taken (or taken again) since it was chosen, else the one it had."""
        if not self.settings.avatar:
            return
        pipeline, kept = self.session.pipeline, self.settings.profiles.get(self.settings.avatar)
        neutral = kept.neutral if kept else None
        if pipeline is not None and pipeline.neutral is not None and pipeline.neutral is not self._inherited_neutral:
            neutral = pipeline.neutral
        self.settings.profiles[self.settings.avatar] = replace(self.controls.profile(), neutral=neutral)

    def _show_profile(self, path: str) -> bool:
        """Show avatar ``path``'s motion settings (its sliders apply at once); True if they ask the running
        engine to be rebuilt (a FOMM option that differs)."""
        profile = self.settings.profiles.get(path)
        if profile is None:
            return False
        shown, pipeline = self.controls.profile(), self.session.pipeline
        used = USED_BY.get(pipeline.engine.name, ()) if pipeline else ()
        self.controls.show_profile(profile)
        return any(getattr(profile, option) != getattr(shown, option) for option in ("relative", "adapt_scale")
                   if option in used)

    def _take_profile(self, path: str) -> None:
        """Avatar ``path`` has just been put on the call: its motion settings, and its neutral pose from the next
        frame (a rebuilt engine takes it as it starts)."""
        if self._show_profile(path):
            self.restart()
            return
        profile = self.settings.profiles.get(path)
        if profile is not None and profile.neutral is not None:
            self.session.pipeline.set_neutral(profile.neutral)

    def _output_changed(self) -> None:
        self.controls.store(self.settings)
        try:
            self.session.set_output(app_settings.output_settings(self.settings))
        except UserError as exc:
            self.banner.warn(Concern.OUTPUT, str(exc))
            if self.session.virtual_camera_device is None:  # it could not be reopened at the new size
                self.controls.vcam_button.setChecked(False)
            return
        self.banner.clear(Concern.OUTPUT)

    def _camera_chosen(self, index: int) -> None:
        data = self.controls.camera_box.itemData(index)
        if data == VIDEO_FILE:
            self.choose_video_file()
        else:
            self._use_camera(data)

    def choose_video_file(self) -> None:
        """Ask for a video file to drive the avatar, as a camera would."""
        path, _ = QFileDialog.getOpenFileName(self, "Drive the avatar from a video", "", _VIDEO_FILTER)
        if path:
            self._use_camera(path)
        else:
            self.controls.show_camera(self.settings.camera)

    def look_for_cameras(self) -> None:
        """Probe the cameras again (one was plugged in) and start with the first found."""
        cameras = self._camera_probe()
        self.controls.set_cameras(cameras)
        if cameras:
            self._use_camera(str(cameras[0]))
        else:
            self.controls.show_camera(self.settings.camera)
            self.statusBar().showMessage("Still no camera found", 5000)

    def _use_camera(self, camera: str) -> None:
        self.controls.show_camera(camera)
        self.settings.camera = camera
        self.restart()

    def _has_checkpoint(self) -> bool:
        return self.settings.engine.checkpoint is not None or find_checkpoint() is not None

    def load_checkpoint(self, path: str) -> None:
        # Which copy it is, as the doctor says it; whether it loads is the engine's to report on restart.
        self.statusBar().showMessage(f"{Path(path).name}: {identify_checkpoint(Path(path))}", 10000)
        self.settings.engine = replace(self.settings.engine, checkpoint=Path(path), engine="fomm")
        self.controls.apply(self.settings, has_checkpoint=True)
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
        """Remove the selected portrait from the gallery; if it is on the call, the next one takes its place."""
        item = self.gallery.currentItem()
        if item is None:
            return
        path, row = item.data(Qt.ItemDataRole.UserRole), self.gallery.currentRow()
        self.gallery.remove(path)
        self.settings.hidden_avatars = sorted(self.gallery.hidden)
        self.save_settings_soon()
        paths = self.gallery.paths()
        if path != self.settings.avatar:
            if self.settings.avatar in paths:
                self.gallery.select_path(self.settings.avatar)  # the list was reloaded: show which is on the call
        elif not paths:
            self.banner.warn(Concern.AVATAR, f"Removed {Path(path).stem}, the last portrait in the gallery: the "
                                             "call still shows it. Add a portrait to replace it.")
        else:
            following = paths[min(row, len(paths) - 1)]  # the next one has taken the removed one's place
            self.choose_avatar(following)
            if self.settings.avatar == following:
                self.statusBar().showMessage(f"Removed {Path(path).stem}; the call now shows "
                                             f"{Path(following).stem}", 8000)

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

    # Hide.

    def set_hidden(self, on: bool, text: str | None = None) -> None:
        """Put the card on the call (``text``: its line; None keeps it), or the live picture back."""
        if text is not None:
            self._set_hide_text(text)
        set_checked_quietly(self.hide_button, on)
        self.session.set_hidden(on)
        self.control.publish()

    def _set_hide_text(self, text: str) -> None:
        self.hide_text.setText(text)
        self.settings.hide_text = text
        self.session.set_hidden(self.session.hidden, text)
        self.save_settings_soon()

    # Outputs.

    def set_virtual_camera(self, on: bool) -> None:
        c = self.controls
        if on:
            try:
                device = self.session.start_virtual_camera()
            except UserError as exc:
                self.banner.warn(Concern.VCAM, str(exc))
                set_checked_quietly(c.vcam_button, False)
                return
            self.banner.clear(Concern.VCAM)
            c.vcam_state.setText(f"Virtual camera: on ({device})")
        else:
            self.session.stop_virtual_camera()
            c.vcam_state.setText("Virtual camera: off")
        c.show_hotkeys(self.settings.hotkeys)

    def set_ndi(self, on: bool) -> None:
        c = self.controls
        if on:
            try:
                source = self.session.start_ndi(c.ndi_name.text())
            except UserError as exc:
                self.banner.warn(Concern.NDI, str(exc))
                set_checked_quietly(c.ndi_button, False)
                return
            self.banner.clear(Concern.NDI)
            c.ndi_state.setText(f"NDI: sending as {source}")
            self.save_settings_soon()  # the name it was sent under, for next time
        else:
            self.session.stop_ndi()
            c.ndi_state.setText("NDI: off")
        c.ndi_name.setEnabled(not on)

    def start_recording(self, path: str | Path | None = None) -> None:
        """Record the call picture to ``path``, or to a new timestamped file in the recordings folder."""
        c = self.controls
        try:
            if path is None:
                path = new_recording_path(ensure_folder(self._recordings_dir(), "recordings folder"))
            self.session.start_recording(path)
        except UserError as exc:
            self.banner.warn(Concern.RECORD, str(exc))
            set_checked_quietly(c.record_button, False)
            return
        self.banner.clear(Concern.RECORD)
        set_checked_quietly(c.record_button, True)
        c.show_hotkeys(self.settings.hotkeys)
        self.status_record.setText(f"● recording {Path(path).name}")

    def stop_recording(self) -> None:
        """Finish the recording; the status bar says "Saved" only for a file that is there and plays."""
        c = self.controls
        set_checked_quietly(c.record_button, False)
        c.show_hotkeys(self.settings.hotkeys)
        self.status_record.setText("")
        try:
            recorder = self.session.stop_recording()
        except UserError as exc:
            self.banner.warn(Concern.RECORD, f"Recording failed: {exc}")
            return
        if recorder is None:
            return
        if recorder.frames_written:
            self.statusBar().showMessage(f"Saved {recorder.path} ({recorder.seconds:.0f} s)", 10000)
        else:
            self.statusBar().showMessage("Nothing recorded: stopped before the first picture", 5000)

    def toggle_recording(self) -> None:
        if self.session.recording is None:
            self.start_recording()
        else:
            self.stop_recording()

    def _record_toggled(self, on: bool) -> None:
        if on != (self.session.recording is not None):
            self.toggle_recording()

    def _recordings_dir(self) -> Path:
        return Path(self.settings.recordings) if self.settings.recordings else default_recordings_dir()

    def toggle_fullscreen(self) -> None:
        # One view, made the first time and hidden between uses: PySide keeps a few references to None for
        # every widget made and deleted, and this key may be pressed hundreds of times in a stream.
        if self._fullscreen is None:
            self._fullscreen = VideoView("")
            self._fullscreen.setWindowTitle(f"{APP_NAME}: avatar")
            QShortcut(QKeySequence("Escape"), self._fullscreen, activated=self.toggle_fullscreen)
            self._fullscreen_key = QShortcut(self._fullscreen)
            self._fullscreen_key.activated.connect(self.toggle_fullscreen)
        if self._fullscreen.isVisible():
            self._fullscreen.hide()
            return
        self._fullscreen_key.setKey(QKeySequence(self.settings.hotkeys.get("fullscreen", "F")))  # as now bound
        self._fullscreen.showFullScreen()

    # Dialogs.

    def show_help(self) -> None:
        if self._help is None:
            self._help = HelpDialog(self.settings.hotkeys, self)
        self._help.show_keys(self.settings.hotkeys,
                             {**self.settings.global_hotkeys, **self._bound_keys} if self.settings.global_keys
                             else None)
        self._help.exec()

    def _settings_dialog(self) -> None:
        if self._settings_form is None:
            self._settings_form = SettingsDialog(self.settings, self)
        dialog = self._settings_form
        dialog.show_settings(self.settings)
        if dialog.exec():
            dialog.store(self.settings)
            self._bind_keys()
            self._apply_control()
            self._apply_global_keys()
            self.save_settings_soon()

    def _apply_control(self) -> None:
        """Serve the control API as the settings say; a port it cannot listen on goes to the banner."""
        try:
            self.control.configure(self.settings)
        except UserError as exc:
            self.banner.warn(Concern.API, str(exc))
            return
        self.banner.clear(Concern.API)

    def _apply_global_keys(self) -> None:
        """Listen for the global keys if they are on; what does not work (here, or a key another program
        holds) goes to the banner."""
        self._show_global_keys(self.global_keys.listen(self._global_bindings()))

    def _global_bindings(self) -> dict[str, str]:
        return self.settings.global_hotkeys if self.settings.global_keys else {}

    def _show_global_keys(self, listening) -> None:
        """What listening achieved: problems in the banner; keys the desktop bound (Wayland) in the help."""
        text = listening.describe(self._global_bindings())
        self.banner.set(Concern.KEYS, bool(text), text)
        self._bound_keys = listening.bound
        if listening.bound:
            self.statusBar().showMessage(f"The desktop bound {len(listening.bound)} global keys: Help lists them",
                                         10000)

    # What the pipeline reports.

    def _draw_frame(self, _nudge=None) -> None:
        frame = self.session.take_frame()
        if frame is None:
            return
        if frame.alpha is not None:  # a transparent background: what NDI receives, over a checkerboard
            self._show_call_picture(over_checkerboard(frame.picture, frame.alpha))
        else:
            self._show_call_picture(frame.avatar if frame.picture is None else frame.picture)
        overlay = self.controls.overlay_box.isChecked()
        onion = self.session.pipeline.avatar if (overlay and self.session.pipeline) else None
        view = camera_view(frame, landmarks=overlay, onion=onion)
        if view is not None:
            self.camera_view.show_frame(view)

    def _show_call_picture(self, picture) -> None:
        if self.controls.mirror_box.isChecked():
            picture = picture[:, ::-1]  # exactly what the call sees
        self.avatar_view.show_frame(picture)
        if self._fullscreen is not None and self._fullscreen.isVisible():
            self._fullscreen.show_frame(picture)

    def _on_event(self, event: Event) -> None:
        if event.kind == EventKind.SINK and self.session.recording_failed:
            self.stop_recording()  # says why, and where what was written is kept
        if event.state == SourceState.RETRYING and self.settings.camera.isdigit():
            self.camera_view.set_placeholder("No camera")
            self.banner.warn(EventKind.SOURCE, f"No camera found (camera {self.settings.camera} does not open). "
                                               "Plug one in, or drive the avatar from a video file.",
                             [("Video file…", self.choose_video_file), ("Look again", self.look_for_cameras)])
        elif event.kind == EventKind.CALIBRATED:
            self.save_settings_soon()  # the neutral pose, in the avatar's profile
            self.statusBar().showMessage(event.message, 3000)
        else:
            self.banner.set(event.kind, event.problem, event.message)

    def _update_status(self) -> None:
        self.control.publish()  # the frame rate and latency change without an event
        pipeline = self.session.pipeline
        if pipeline is None:
            self.status_engine.setText("stopped")
            return
        summary = pipeline.summary()
        calibrated = "" if pipeline.calibrated else "  ·  not calibrated"
        link = (f"  ·  link {summary['remote_rtt_ms_p50']:.0f} ms" if summary.get("remote_rtt_ms_p50") is not None
                and summary.get("remote_connected") else "")
        self.status_engine.setText(f"{summary['engine']} on {summary['device']}{link}{calibrated}")
        stall = pipeline.stall()
        if stall is not None:
            self.status_fps.setText(stall.describe())
            self.status_fps.setStyleSheet("color:#c62828;")
        else:
            self.status_fps.setText(f"{summary['fps_out']:.0f} fps  ·  {summary['latency_ms_p50']:.0f} ms  ·  "
                                    f"{summary['dropped_per_s']:.0f} dropped/s")
            self.status_fps.setStyleSheet("")
        device = self.session.virtual_camera_device
        self.status_vcam.setText(f"virtual camera: {device}" if device else "virtual camera: off")

    def report_crash(self, crash: PreviousCrash) -> None:
        """Say that the last session died, and where its crash log is."""
        self.banner.warn(Concern.CRASH, crash.describe(),
                         [("Open log", lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(crash.log))))])

    @property
    def warnings(self) -> dict:
        """What the banner shows, by event kind or window concern."""
        return self.banner.messages

    # Keeping the settings.

    def save_settings_soon(self) -> None:
        """Write the settings shortly (changes in a row are written once)."""
        self._save_timer.start()

    def _save_settings(self) -> None:
        self.controls.store(self.settings)
        self._remember_profile()
        self.settings.geometry = self.saveGeometry()
        engine = replace(self.settings.engine, remote=self._remote_ok)  # what the field shows may never have connected
        if engine.engine == "remote" and not engine.remote:  # nothing to connect to: the next start runs mesh
            engine = replace(engine, engine="mesh")
        app_settings.save(self.store, replace(self.settings, engine=engine))

    # Closing.

    def closeEvent(self, event) -> None:
        self._closed = True
        self._stats_timer.stop()
        if self._fullscreen is not None:
            self._fullscreen.close()
        self._save_timer.stop()
        self._save_settings()
        self.control.stop()
        self.global_keys.stop()
        self.session.stop()
        super().closeEvent(event)


def _is_pairing(text: str) -> bool:
    try:
        parse_pairing(text)
    except UserError:
        return False
    return True
