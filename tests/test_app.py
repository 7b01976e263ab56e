"""The window on Qt's offscreen platform, with a video file as the camera."""

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from app import settings as app_settings
from app.main_window import Concern, MainWindow
from core.engines import EngineChoice
from conftest import open_window
from fakes import FakeCamera


@pytest.fixture
def window(qtbot, tmp_path, camera_video):
    win = open_window(qtbot, tmp_path, str(camera_video))
    qtbot.waitUntil(lambda: win.avatar_view.frames_shown > 3, timeout=15000)
    yield win
    if win.session.pipeline is not None:
        win.close()


def _second_avatar(tmp_path, astronaut) -> Path:
    """A different-looking portrait: the astronaut mirrored and tinted blue."""
    face = astronaut[:, ::-1].astype(np.int32)
    face[..., 2] = np.clip(face[..., 2] + 60, 0, 255)
    path = tmp_path / "blue.png"
    cv2.imwrite(str(path), cv2.cvtColor(face.astype(np.uint8), cv2.COLOR_RGB2BGR))
    return path


def test_window_opens_and_shows_both_previews(window, qtbot):
    assert window.camera_view.frames_shown > 0 and window.avatar_view.frames_shown > 0
    assert window.session.pipeline.engine.name == "mesh"
    qtbot.waitUntil(lambda: window.status_engine.text().startswith("mesh on cpu"), timeout=3000)
    assert " fps" in window.status_fps.text() and "dropped/s" in window.status_fps.text()
    assert not window.controls.device_box.isEnabled()  # FOMM-only options are greyed out for the mesh engine


def test_switching_avatars_changes_the_output(window, qtbot, tmp_path, astronaut):
    bundled = window.gallery.count()
    added = window.gallery.add_files([str(_second_avatar(tmp_path, astronaut))])
    assert added and Path(added).parent == tmp_path / "avatars" and window.gallery.count() == bundled + 1
    window.choose_avatar(added)

    def blueness():
        image = window.avatar_view._image
        return np.mean([image.pixelColor(x, y).blue() - image.pixelColor(x, y).red()
                        for x in range(0, image.width(), 16) for y in range(0, image.height(), 16)])

    qtbot.waitUntil(lambda: blueness() > 20, timeout=5000)  # the tinted avatar reached the preview
    assert window.settings.avatar == added


def test_calibrate_by_button_and_by_hotkeys(window, qtbot):
    pipeline = window.session.pipeline
    qtbot.waitUntil(lambda: pipeline.calibrated, timeout=10000)  # automatic calibration at start
    count = pipeline.calibrations
    qtbot.mouseClick(window.calibrate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: pipeline.calibrations == count + 1, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_X)
    qtbot.waitUntil(lambda: pipeline.calibrations == count + 2, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: pipeline.calibrations == count + 3, timeout=5000)


def test_countdown_calibrates_after_it_runs_out(window, qtbot):
    pipeline = window.session.pipeline
    qtbot.waitUntil(lambda: pipeline.calibrated, timeout=10000)
    count = pipeline.calibrations
    window.settings.countdown = 1
    window.start_calibration()
    assert window.camera_view._caption == "1"
    qtbot.waitUntil(lambda: pipeline.calibrations == count + 1, timeout=5000)
    assert window.camera_view._caption == ""


def test_missing_virtual_camera_is_a_message_in_the_window(window, qtbot, monkeypatch):
    def no_device(**kwargs):
        raise RuntimeError("'v4l2loopback' backend: No v4l2 loopback device found")

    monkeypatch.setattr("pyvirtualcam.Camera", no_device)
    qtbot.keyClick(window, Qt.Key.Key_V)
    assert not window.controls.vcam_button.isChecked()
    message = window.warnings[Concern.VCAM]
    assert message.startswith("No virtual camera to send to; install") and "README: The virtual camera" in message
    assert "v4l2 loopback device found" not in message  # pyvirtualcam's own text, with its own hint, stays out
    assert window.banner.isVisible() and window.session.pipeline is not None
    qtbot.mouseClick(window.banner.row(Concern.VCAM).close_button, Qt.MouseButton.LeftButton)
    # Its row goes; the banner may still hold another concern (a loaded machine can be slow to find the face).
    assert Concern.VCAM not in window.warnings and window.banner.row(Concern.VCAM) is None


def test_virtual_camera_on_and_off_from_the_window(window, qtbot, monkeypatch):

    FakeCamera.instances.clear()
    monkeypatch.setattr("pyvirtualcam.Camera", FakeCamera)
    qtbot.keyClick(window, Qt.Key.Key_V)
    assert window.controls.vcam_button.isChecked() and "/dev/video-fake" in window.controls.vcam_state.text()
    qtbot.waitUntil(lambda: len(FakeCamera.instances[-1].frames) > 3, timeout=5000)
    assert FakeCamera.instances[-1].frames[-1].shape == (720, 1280, 3)
    qtbot.keyClick(window, Qt.Key.Key_V)
    assert FakeCamera.instances[-1].closed and window.controls.vcam_state.text() == "Virtual camera: off"


def test_avatar_without_a_face_is_a_message_in_the_window(window, tmp_path):
    flat = tmp_path / "flat.png"
    cv2.imwrite(str(flat), np.full((300, 300, 3), 120, np.uint8))
    previous = window.settings.avatar
    window.choose_avatar(str(flat))
    assert "no face found" in window.warnings[Concern.AVATAR]
    assert window.settings.avatar == previous and window.session.pipeline is not None


def _plays_for(path) -> float:
    capture = cv2.VideoCapture(str(path))
    try:
        assert capture.isOpened() and capture.read()[0]
        return capture.get(cv2.CAP_PROP_FRAME_COUNT) / capture.get(cv2.CAP_PROP_FPS)
    finally:
        capture.release()


def test_recording_from_the_window_is_finalised_on_close(window, qtbot, tmp_path):
    out = tmp_path / "take.mp4"
    window.start_recording(out)
    started = time.monotonic()
    qtbot.wait(1500)
    window.close()
    # It lasts as long as the moment it recorded (the last frames may still have been on their way).
    assert 1.0 < _plays_for(out) <= time.monotonic() - started + 0.1


def test_record_key_records_the_call_picture_into_the_recordings_folder(window, qtbot, tmp_path):
    window.settings.recordings = str(tmp_path / "recordings")
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_R)
    assert window.session.recording is not None and "recording Facade " in window.status_record.text()
    shown = window.avatar_view.frames_shown  # frames, not seconds: a loaded machine paints fewer a second
    qtbot.waitUntil(lambda: window.avatar_view.frames_shown > shown + 25, timeout=20000)
    qtbot.keyClick(window, Qt.Key.Key_R)
    assert window.session.recording is None and not window.controls.record_button.isChecked()
    [saved] = list((tmp_path / "recordings").iterdir())
    assert saved.name.startswith("Facade ") and saved.suffix == ".mp4"
    assert f"Saved {saved}" in window.statusBar().currentMessage()
    assert _plays_for(saved) > 0.5
    assert cv2.VideoCapture(str(saved)).get(cv2.CAP_PROP_FRAME_WIDTH) == 1280  # the call picture, not the crop


def test_record_key_dozens_of_times_never_freezes_the_avatar(window, qtbot, tmp_path):
    window.settings.recordings = str(tmp_path / "recordings")
    for _ in range(24):
        window.toggle_recording()
        qtbot.wait(60)
        window.toggle_recording()
    shown = window.avatar_view.frames_shown
    qtbot.waitUntil(lambda: window.avatar_view.frames_shown > shown + 10, timeout=5000)
    assert window.session.pipeline.stall() is None
    saved = list((tmp_path / "recordings").iterdir())
    assert saved and all(path.suffix == ".mp4" and _plays_for(path) > 0 for path in saved)
    assert not window.warnings.get(Concern.RECORD)


def test_a_failed_recording_never_says_saved_and_keeps_what_was_written(window, qtbot, tmp_path, monkeypatch):
    from core.media import video_io

    window.settings.recordings = str(tmp_path / "recordings")
    writes = {"n": 0}
    real_write = video_io.Mp4Writer.write

    def failing_write(self, rgb):  # the disk fills up after 10 frames
        writes["n"] += 1
        if writes["n"] > 10:
            self._process.stdin.close()
        real_write(self, rgb)

    monkeypatch.setattr(video_io.Mp4Writer, "write", failing_write)
    window.toggle_recording()
    qtbot.waitUntil(lambda: Concern.RECORD in window.warnings, timeout=8000)
    assert window.session.recording is None and not window.controls.record_button.isChecked()
    assert "Saved" not in window.statusBar().currentMessage()
    [kept] = list((tmp_path / "recordings").iterdir())
    assert kept.name.endswith(".partial.mp4") and not kept.name.startswith(".")
    assert str(kept) in window.warnings[Concern.RECORD]


def test_a_recordings_folder_that_cannot_be_made_is_a_message(window, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    window.settings.recordings = str(blocker / "recordings")
    window.toggle_recording()
    assert str(blocker / "recordings") in window.warnings[Concern.RECORD]
    assert window.session.recording is None and not window.controls.record_button.isChecked()


def test_the_status_bar_names_a_stalled_stage(window, qtbot):
    from core.live.events import Stage, Stall

    window.session.pipeline.stall = lambda: Stall(3.0, Stage.ENGINE)
    qtbot.waitUntil(lambda: "stalled" in window.status_fps.text(), timeout=3000)
    assert "engine is stuck" in window.status_fps.text() and "fps" not in window.status_fps.text()


def test_closing_releases_everything_quickly(window):
    pipeline = window.session.pipeline
    window.close()
    assert window.session.pipeline is None
    assert not pipeline.running


def test_settings_round_trip_and_bad_values_fall_back(tmp_path, qtbot, camera_video):
    store = app_settings.open_settings(tmp_path / "s.ini")
    settings = app_settings.AppSettings(avatar=str(camera_video), camera="2", engine=EngineChoice(engine="fomm"),
                                        smoothing=0.8, mirror=True, countdown=3, hidden_avatars=["a.png"])
    settings.hotkeys["calibrate"] = "C"
    app_settings.save(store, settings)
    loaded = app_settings.load(app_settings.open_settings(tmp_path / "s.ini"))
    assert (loaded.camera, loaded.engine.engine, loaded.smoothing, loaded.mirror, loaded.countdown) == ("2", "fomm", 0.8,
                                                                                               True, 3)
    assert loaded.hidden_avatars == ["a.png"] and loaded.hotkeys["calibrate"] == "C"
    assert loaded.hotkeys["mirror"] == "M"
    store.setValue("smoothing", "lots")
    store.setValue("device", "quantum")
    store.setValue("checkpoint", str(tmp_path / "gone.pth.tar"))
    store.setValue("countdown", 99)
    store.sync()
    bad = app_settings.load(app_settings.open_settings(tmp_path / "s.ini"))
    assert bad.smoothing == 0.5 and bad.engine.device == "auto" and bad.engine.checkpoint is None
    assert bad.countdown == 10


def test_window_state_persists_between_runs(qtbot, tmp_path, camera_video):
    store = app_settings.open_settings(tmp_path / "p.ini")
    first = MainWindow(store, camera=str(camera_video), camera_probe=lambda: [], user_dir=tmp_path / "u")
    qtbot.addWidget(first)
    first.controls.mirror_box.setChecked(True)
    first.controls.smoothing.setValue(20)
    first.close()
    second = MainWindow(app_settings.open_settings(tmp_path / "p.ini"), camera_probe=lambda: [], user_dir=tmp_path / "u")
    qtbot.addWidget(second)
    assert second.controls.mirror_box.isChecked() and second.controls.smoothing.value() == 20
    assert second.settings.camera == str(camera_video)
    second.close()


def test_settings_are_saved_when_they_change_not_only_at_a_clean_exit(window, qtbot, tmp_path):
    window.controls.mirror_box.setChecked(True)
    window.controls.smoothing.setValue(20)
    window.controls.fit_box.setCurrentText("contain")

    def stored() -> app_settings.AppSettings:  # what a crash now would leave: read by another store
        return app_settings.load(app_settings.open_settings(tmp_path / "facade.ini"))

    qtbot.waitUntil(lambda: stored().mirror and stored().smoothing == 0.2 and stored().fit == "contain",
                    timeout=3000)
    assert stored().avatar == window.settings.avatar != ""


def test_the_output_group_changes_the_call_picture_and_the_virtual_camera_follows(window, qtbot, monkeypatch):
    import pyvirtualcam

    monkeypatch.setattr(pyvirtualcam, "Camera", FakeCamera)
    FakeCamera.instances.clear()
    window.controls.vcam_button.setChecked(True)
    qtbot.waitUntil(lambda: bool(FakeCamera.instances and FakeCamera.instances[-1].frames), timeout=5000)
    assert FakeCamera.instances[-1].frames[-1].shape == (720, 1280, 3)
    c = window.controls
    c.size_box.setCurrentText("640x360")
    c.background_box.setCurrentText("green")
    c.fit_box.setCurrentText("contain")
    c.output_changed.emit()
    assert Concern.OUTPUT not in window.warnings
    camera = FakeCamera.instances[-1]
    assert (camera.width, camera.height) == (640, 360)

    def green_bars():  # beside the portrait; the first frame or two may still be the old picture, resized
        frame = camera.frames[-1] if camera.frames else None
        return (frame is not None and frame.shape == (360, 640, 3)
                and np.abs(frame[:, :30].astype(int) - (0, 177, 64)).max() < 3)

    qtbot.waitUntil(green_bars, timeout=8000)
    assert window.session.virtual_camera_device and window.settings.output_size == "640x360"
    # The preview draws on the UI thread, a moment after the virtual camera got the frame.
    qtbot.waitUntil(lambda: window.avatar_view._image.width() == 640, timeout=5000)


def test_the_remote_engine_from_the_window(window, qtbot, served):
    _, pairing = served
    c = window.controls
    running = window.session.pipeline
    c.engine_box.setCurrentIndex(c.engine_box.findData("remote"))
    assert c.remote_field.isVisibleTo(window)
    window.restart()  # no pairing yet: a message, and the avatar keeps running as it was
    assert "pairing string" in window.warnings[Concern.START] and window.session.pipeline is running
    c.remote_field.setText(str(pairing))
    c.remote_field.setModified(True)  # as typing or pasting does
    c.remote_field.editingFinished.emit()
    qtbot.waitUntil(lambda: window.session.pipeline.engine.name == "remote", timeout=10000)
    assert Concern.START not in window.warnings and window.settings.engine.remote == str(pairing)
    qtbot.waitUntil(lambda: "remote on cpu at 127.0.0.1" in window.status_engine.text(), timeout=10000)


def test_closing_with_the_pairing_field_focused_starts_nothing(window, qtbot):
    c = window.controls
    c.engine_box.setCurrentIndex(c.engine_box.findData("remote"))
    window.restart()  # no pairing: the field gets the focus
    c.remote_field.setText("facade1@example")
    c.remote_field.setModified(True)
    window.close()  # the field loses its focus as the window goes
    qtbot.wait(200)
    assert window.session.pipeline is None


def test_removing_the_avatar_on_the_call_puts_the_next_one_on_and_says_so(window, qtbot):
    from PySide6.QtWidgets import QPushButton

    paths = window.gallery.paths()
    shown = window.settings.avatar
    following = paths[paths.index(shown) + 1]
    [remove] = [b for b in window.findChildren(QPushButton) if b.text() == "Remove"]
    qtbot.mouseClick(remove, Qt.MouseButton.LeftButton)
    assert shown not in window.gallery.paths()
    assert window.session.avatar_path == window.settings.avatar == following  # on the call, not only selected
    assert window.gallery.currentItem().data(Qt.ItemDataRole.UserRole) == following
    message = window.statusBar().currentMessage()
    assert Path(shown).stem in message and Path(following).stem in message


def _pair(controls, text: str) -> None:
    """Choose Remote GPU and enter ``text`` as its pairing string, as pasting and pressing Enter does."""
    controls.engine_box.setCurrentIndex(controls.engine_box.findData("remote"))
    controls.remote_field.setText(text)
    controls.remote_field.setModified(True)
    controls.remote_field.editingFinished.emit()


def test_a_bad_pairing_string_says_why_stays_open_to_correct_and_is_never_stored(window, qtbot, tmp_path, served):
    _, pairing = served
    c = window.controls
    _pair(c, str(pairing))
    qtbot.waitUntil(lambda: window.session.pipeline.engine.name == "remote", timeout=10000)
    _pair(c, "fx1")
    assert window.session.pipeline.engine.name == "mesh"  # carries on
    qtbot.wait(500)  # the mesh engine's start and its first frames leave the reason on screen
    assert window.warnings[Concern.ENGINE].startswith("Remote GPU did not start: --remote fx1: not a pairing string")
    assert c.remote_field.isVisibleTo(window) and c.remote_field.text() == "fx1"
    index = c.engine_box.findData("remote")  # Remote GPU chosen again: it says so again, the field still open
    c.engine_box.setCurrentIndex(index)
    c.engine_box.activated.emit(index)
    assert "fx1" in window.warnings[Concern.ENGINE] and c.remote_field.isVisibleTo(window)
    window.close()
    stored = app_settings.load(app_settings.open_settings(tmp_path / "facade.ini"))
    assert stored.engine.remote == str(pairing) and stored.engine.engine == "mesh"  # the one that connected


def test_a_pairing_string_that_never_connected_is_not_stored(window, qtbot, tmp_path):
    _pair(window.controls, "fx1")
    assert Concern.ENGINE in window.warnings and window.session.pipeline.engine.name == "mesh"
    window.close()
    stored = app_settings.load(app_settings.open_settings(tmp_path / "facade.ini"))
    assert stored.engine.remote == "" and stored.engine.engine == "mesh"


def test_a_checkpoint_that_does_not_fit_says_why_while_mesh_runs(window, qtbot, tiny_checkpoint):
    window.load_checkpoint(str(tiny_checkpoint))  # the tiny networks' weights, for vox-256's
    # Load model… names the copy through the doctor's function (identify_checkpoint)
    assert window.statusBar().currentMessage() == "tiny-cpk.pth.tar: not a published copy of vox-adv-cpk.pth.tar " \
                                                   "(size or hash differ)"
    assert window.session.pipeline.engine.name == "mesh"
    qtbot.wait(500)
    message = window.warnings[Concern.ENGINE]
    assert message.startswith("FOMM (neural) did not start: ") and "Load model… takes another checkpoint" in message
    index = window.controls.engine_box.findData("mesh")  # mesh chosen by hand: the old reason goes
    window.controls.engine_box.activated.emit(index)
    assert Concern.ENGINE not in window.warnings
