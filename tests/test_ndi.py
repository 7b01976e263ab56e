"""NDI output: the call picture sent as an NDI source and received back on this machine, alpha and all; and
the transparent background whose alpha it carries."""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pytest

from conftest import ASTRONAUT, moved
from core.compose.compositor import Compositor, OutputSettings, background_colour, replace_background
from core.engines import EngineChoice
from core.face.avatar import load_portrait
from core.errors import UserError
from core.frames import OutputFrame
from core.live.builder import LiveSetup, build_pipeline
from core.live.ndi import NdiSink, NdiUnavailable, check_source_name, ndi_library
from core.live.sinks import CallbackSink
from main import main

try:
    import NDIlib
except ImportError:
    NDIlib = None
needs_ndi = pytest.mark.skipif(NDIlib is None, reason="ndi-python is not installed (requirements-ndi.txt)")


class Receiver:
    """An NDI receiver on this machine: finds ``source`` by asking 127.0.0.1 (no mDNS needed) and takes
    its video as RGBA."""

    def __init__(self, source: str, timeout: float = 10):
        ndi = ndi_library()
        self._ndi = ndi
        find = ndi.FindCreate()
        find.extra_ips, find.show_local_sources = "127.0.0.1", True
        finder = ndi.find_create_v2(find)
        deadline = time.monotonic() + timeout
        try:
            while not (found := [s for s in ndi.find_get_current_sources(finder) if s.ndi_name == source]):
                assert time.monotonic() < deadline, f"NDI source {source!r} not found"
                ndi.find_wait_for_sources(finder, 200)
            create = ndi.RecvCreateV3()
            create.color_format, create.bandwidth = ndi.RECV_COLOR_FORMAT_RGBX_RGBA, ndi.RECV_BANDWIDTH_HIGHEST
            self._receiver = ndi.recv_create_v3(create)
            ndi.recv_connect(self._receiver, found[0])
        finally:
            ndi.find_destroy(finder)

    def take(self, send, timeout: float = 10, until=lambda rgba: True) -> np.ndarray:
        """Calls ``send()`` until a video frame arrives for which ``until`` holds (frames sent before may be
        queued still); that frame, (H, W, 4) RGBA."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            send()
            kind, video, _, _ = self._ndi.recv_capture_v2(self._receiver, 50)
            if kind == self._ndi.FRAME_TYPE_VIDEO:
                data = np.array(video.data, copy=True)
                self._ndi.recv_free_video_v2(self._receiver, video)
                if until(data):
                    return data
        raise AssertionError("no such NDI video frame arrived")

    def close(self) -> None:
        self._ndi.recv_destroy(self._receiver)


def _name(label: str) -> str:
    return f"facade-test-{label}-{os.getpid()}"  # unique: other test runs may be sending too


@needs_ndi
def test_a_picture_and_its_alpha_arrive_as_sent():
    h, w = 180, 320
    ys, xs = np.mgrid[:h, :w]
    picture = np.dstack([xs * 255 // w, ys * 255 // h, np.full((h, w), 90)]).astype(np.uint8)
    alpha = ((xs // 40 + ys // 30) % 3 * 127).astype(np.uint8)  # 0, 127, 254 in blocks
    frame = OutputFrame(avatar=picture[:, :h], captured_at=0.0, index=0, face_found=True, picture=picture,
                        alpha=alpha)
    sink = NdiSink(_name("alpha"))
    receiver = Receiver(sink.source)
    try:
        received = receiver.take(lambda: sink.write(frame))
        assert received.shape == (h, w, 4)
        assert np.abs(received[..., 3].astype(int) - alpha).max() <= 1  # NDI's alpha: all but lossless
        error = np.abs(received[..., :3].astype(int) - picture)
        assert error.mean() < 2 and error.max() <= 16  # its colour codec is not
        opaque = OutputFrame(avatar=picture[:, :h], captured_at=0.0, index=1, face_found=True, picture=picture)
        received = receiver.take(lambda: sink.write(opaque), until=lambda rgba: rgba[0, 0, 3] == 255)
        assert (received[..., 3] == 255).all()  # a frame without alpha is opaque everywhere
    finally:
        receiver.close()
        sink.close()


@needs_ndi
def test_a_transparent_background_reaches_an_ndi_receiver_as_the_person_alone(tmp_path, camera_video):
    frames = []
    output = OutputSettings(size=(640, 360), background="transparent")
    pipeline = build_pipeline(LiveSetup(camera=camera_video, avatar=ASTRONAUT, choice=EngineChoice(engine="mesh"),
                                        output=output, paced=False), [CallbackSink(frames.append)])
    sink = NdiSink(_name("live"))
    receiver = Receiver(sink.source)
    pipeline.add_sink(sink)
    received = []
    try:
        pipeline.start()
        received.append(receiver.take(lambda: time.sleep(0.05), timeout=30))
        pipeline.wait(30, timeout=60)
        live = len(frames)
        pipeline.set_hidden(True, "Back soon", fade=False)
        received.append(receiver.take(lambda: time.sleep(0.05), until=lambda rgba: rgba[0, 0, 3] == 255))
    finally:
        pipeline.stop()
        receiver.close()
    assert (received[1][..., 3] == 255).all()  # the Hide card goes out opaque
    matte = received[0][..., 3]
    sent = [f.alpha for f in frames[:live]]
    assert all(a is not None and a.shape == (360, 640) for a in sent)
    error = min((np.abs(matte.astype(int) - a) for a in sent), key=np.mean)  # against the matte it was
    assert error.mean() < 0.2 and error.max() <= 8  # NDI's alpha is all but lossless
    # The flag behind her is gone, her face is there, and the picture around her is the portrait's own.
    assert matte[:40, :40].max() < 10 and matte[110:150, 250:310].min() > 245
    assert frames[live - 1].picture[:40, :40].std() > 5


def test_without_the_library_ndi_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "NDIlib", None)  # import NDIlib raises ImportError
    with pytest.raises(NdiUnavailable) as raised:
        NdiSink("Facade")
    assert "requirements-ndi.txt" in raised.value.advice


@pytest.mark.parametrize("name", ["", "   ", "x" * 64, "tab\there"])
def test_bad_ndi_names_are_refused(name):
    with pytest.raises(UserError, match="NDI name"):
        check_source_name(name)


def test_a_transparent_background_keeps_the_portrait_for_opaque_outputs_and_its_matte_follows_the_head():
    portrait, crop = load_portrait(ASTRONAUT)
    assert background_colour("transparent") is None and replace_background(portrait, "transparent") is portrait
    opaque = Compositor(portrait, crop, OutputSettings(size=(640, 360)))
    clear = Compositor(portrait, crop, OutputSettings(size=(640, 360), background="transparent"))
    assert opaque.matte(opaque.face) is None
    assert np.array_equal(clear.compose(clear.face), opaque.compose(opaque.face))  # the same opaque picture
    rest = clear.matte(clear.face)
    assert rest.dtype == np.uint8 and rest.shape == (360, 640)
    assert rest[:40, :40].max() < 10 and rest[110:150, 250:310].min() > 245  # the flag gone, her face kept
    shift = 30  # pixels of the face square, to the right: the head moves, and its matte with it
    turned = clear.matte(moved(clear.face, dx=shift))
    rows = slice(60, 120)  # the hair, above the forehead
    columns = np.arange(640)
    centre = [(m[rows] * columns).sum() / m[rows].sum() for m in (rest, turned)]
    assert 10 < centre[1] - centre[0] < shift
    outside = np.ones((360, 640), bool)
    outside[clear._out] = False
    assert np.array_equal(rest[outside], turned[outside])  # outside the face square nothing moves


@needs_ndi
def test_run_sends_to_ndi_with_a_transparent_background(capsys, tmp_path, camera_video):
    stats = tmp_path / "stats.json"
    code = main(["run", "--camera", str(camera_video), "--avatar", str(ASTRONAUT), "--ndi", _name("run"),
                 "--background", "transparent", "--max-frames", "15", "--stats-json", str(stats)])
    assert code == 0 and f"({_name('run')})" in capsys.readouterr().err and stats.is_file()


@pytest.mark.parametrize("argv, says", [
    (["run", "--record", "OUT.mp4"], "only NDI output carries transparency"),
    (["run", "--virtual-cam"], "only NDI output carries transparency"),
    (["animate", "--driving", "CLIP", "--out", "OUT.mp4"], "only NDI output carries transparency"),
])
def test_a_transparent_background_without_ndi_is_an_error(capsys, tmp_path, camera_video, argv, says):
    argv = [str(camera_video) if a == "CLIP" else str(tmp_path / a) if a == "OUT.mp4" else a for a in argv]
    camera = ["--camera", str(camera_video)] if argv[0] == "run" else []
    assert main([*argv, *camera, "--avatar", str(ASTRONAUT), "--background", "transparent"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --background transparent") and says in err and err.count("\n") == 1
    assert not (tmp_path / "OUT.mp4").exists()


def test_run_ndi_without_the_library_is_one_error_line(monkeypatch, capsys, camera_video):
    monkeypatch.setitem(sys.modules, "NDIlib", None)
    assert main(["run", "--camera", str(camera_video), "--avatar", str(ASTRONAUT), "--ndi"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: NDI output needs the NDI library") and "requirements-ndi.txt" in err
    assert err.count("\n") == 1


def test_doctor_says_whether_ndi_can_send_and_how_to_get_it(monkeypatch):
    from core.tools.doctor import _ndi

    if NDIlib is not None:
        check = _ndi()
        assert check.status == "ok" and check.detail.startswith("NDI runtime 6.")
    monkeypatch.setitem(sys.modules, "NDIlib", None)
    check = _ndi()
    assert check.status == "warning" and "not installed" in check.detail and "requirements-ndi.txt" in check.advice


@pytest.fixture
def window(qtbot, tmp_path, camera_video):
    from conftest import open_window

    win = open_window(qtbot, tmp_path, str(camera_video))
    qtbot.waitUntil(lambda: win.avatar_view.frames_shown > 3, timeout=15000)
    yield win
    if win.session.pipeline is not None:
        win.close()


def _choose_background(window, text):
    box = window.controls.background_box
    box.setCurrentText(text)
    box.activated.emit(box.currentIndex())


@needs_ndi
def test_the_window_sends_ndi_and_previews_transparency_over_a_checkerboard(window, qtbot):
    from PySide6.QtCore import Qt

    c = window.controls
    assert not c.background_note.isVisibleTo(window)
    _choose_background(window, "transparent")
    assert c.background_note.isVisibleTo(window) and "only NDI" in c.background_note.text()
    shown = []
    window.avatar_view.show_frame = lambda rgb, show=window.avatar_view.show_frame: (shown.append(rgb), show(rgb))
    qtbot.waitUntil(lambda: len(shown) > 3, timeout=10000)
    # The preview: the picture over the grey checkerboard where the matte is clear (the flag behind her).
    assert np.isin(shown[-1][:16, :16], (102, 153)).all() and np.isin(shown[-1][:16, 16:32], (102, 153)).all()
    assert shown[-1][0, 0, 0] != shown[-1][0, 16, 0]
    c.ndi_name.setText(_name("window"))
    qtbot.mouseClick(c.ndi_button, Qt.MouseButton.LeftButton)
    assert c.ndi_button.isChecked() and c.ndi_state.text().endswith(f"({_name('window')})")
    assert not c.ndi_name.isEnabled()
    receiver = Receiver(c.ndi_state.text().removeprefix("NDI: sending as "))
    try:
        received = receiver.take(lambda: qtbot.wait(30), timeout=20)
    finally:
        receiver.close()
    assert received.shape == (720, 1280, 4) and received[:40, :40, 3].max() < 10 and received[..., 3].max() == 255
    qtbot.mouseClick(c.ndi_button, Qt.MouseButton.LeftButton)
    assert c.ndi_state.text() == "NDI: off" and c.ndi_name.isEnabled()


def test_the_window_says_how_to_get_ndi_when_it_is_missing(window, qtbot, monkeypatch):
    from PySide6.QtCore import Qt

    from app.banner import Concern

    monkeypatch.setitem(sys.modules, "NDIlib", None)
    qtbot.mouseClick(window.controls.ndi_button, Qt.MouseButton.LeftButton)
    assert not window.controls.ndi_button.isChecked() and window.controls.ndi_state.text() == "NDI: off"
    assert "requirements-ndi.txt" in window.warnings[Concern.NDI]


def test_the_ndi_name_is_kept_and_a_bad_one_falls_back(tmp_path):
    from app import settings as app_settings

    store = app_settings.open_settings(tmp_path / "facade.ini")
    app_settings.save(store, app_settings.AppSettings(ndi_name="Studio B"))
    assert app_settings.load(store).ndi_name == "Studio B"
    store.setValue("ndi_name", "")
    assert app_settings.load(store).ndi_name == "Facade"
