"""Global keys: heard while another window has focus, on a real X server (Xvfb) with keys typed by xdotool;
keys taken by another program, or bound twice, are reported."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading

import pytest
from PySide6.QtCore import Qt

from app import settings as app_settings
from app.banner import Concern
from app.global_keys import Backend, GlobalKeys, Refused, pynput_key
from app.hotkeys import BY_NAME, GLOBAL_ACTIONS, clash
from conftest import open_window
from core.control.actions import Action, Command, State, toggled

_DEFAULT_GLOBAL = {a.name: a.global_key for a in GLOBAL_ACTIONS}


@pytest.fixture
def x_display(monkeypatch):
    """A fresh X server of our own (Xvfb picks a free display number), and a plain X window that has focus:
    the program the user is in (Zoom, OBS), not Facade."""
    missing = [tool for tool in ("Xvfb", "xdotool", "xmessage") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt install xvfb xdotool x11-utils)")
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "640x480x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    display = f":{number}"
    monkeypatch.setenv("DISPLAY", display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
    other = subprocess.Popen(["xmessage", "-name", "zoom", "-title", "Zoom meeting", "In a call"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    window = _xdotool("search", "--sync", "--name", "Zoom meeting").split()[0]
    _xdotool("windowfocus", "--sync", window)
    assert _xdotool("getwindowfocus", "getwindowname").strip() == "Zoom meeting"
    yield display
    other.kill()
    server.terminate()
    other.wait()
    server.wait()


def _xdotool(*args: str) -> str:
    return subprocess.run(["xdotool", *args], check=True, capture_output=True, text=True, timeout=20).stdout


def _listening(qtbot, keys: dict[str, str], backend: Backend | None = None):
    listener = GlobalKeys(backend=backend)
    heard: list[tuple[str, bool]] = []  # action name, on the main thread
    listener.pressed.connect(lambda name: heard.append((name, threading.current_thread() is threading.main_thread())))
    return listener, listener.listen(keys), heard


def test_x11_keys_are_heard_while_another_window_has_focus(qtbot, x_display):
    keys = {"calibrate": "Ctrl+Alt+Shift+X", "next_avatar": "Ctrl+Alt+Shift+PgDown", "avatar_3": "Ctrl+Alt+Shift+F3"}
    listener, listening, heard = _listening(qtbot, keys, Backend.X11)
    assert listening.refused == {} and listening.unavailable is None and listening.describe(keys) == ""
    _xdotool("key", "x", "ctrl+alt+x")  # the letter alone, or with other modifiers, is not the key
    _xdotool("key", "ctrl+alt+shift+x", "ctrl+alt+shift+Next", "ctrl+alt+shift+F3")
    qtbot.waitUntil(lambda: len(heard) == 3, timeout=5000)
    assert heard == [("calibrate", True), ("next_avatar", True), ("avatar_3", True)]
    _xdotool("keydown", "ctrl+alt+shift+x")  # held: X repeats the key, Facade acts once
    qtbot.wait(700)
    _xdotool("keyup", "ctrl+alt+shift+x")
    qtbot.wait(200)
    assert heard[3:] == [("calibrate", True)]
    listener.stop()
    _xdotool("key", "ctrl+alt+shift+x")
    qtbot.wait(300)
    assert len(heard) == 4
    # Stopped, the keys are the desktop's again: another program can take them.
    again, listening, _ = _listening(qtbot, keys, Backend.X11)
    assert listening.refused == {}
    again.stop()


def test_a_key_another_program_holds_is_reported_and_the_others_work(qtbot, x_display):
    from Xlib import X, XK, display

    holder = display.Display()  # another program that grabbed Ctrl+Alt+Shift+H first
    holder.screen().root.grab_key(holder.keysym_to_keycode(XK.string_to_keysym("h")),
                                  X.ControlMask | X.Mod1Mask | X.ShiftMask, False, X.GrabModeAsync, X.GrabModeAsync)
    holder.sync()
    keys = {"hide": "Ctrl+Alt+Shift+H", "calibrate": "Ctrl+Alt+Shift+X", "mirror": "Ctrl+Alt+Shift+Launch9"}
    listener, listening, heard = _listening(qtbot, keys, Backend.X11)
    assert listening.refused == {"hide": Refused.TAKEN, "mirror": Refused.NO_SUCH_KEY}
    assert listening.describe(keys) == (
        "Global keys: Ctrl+Alt+Shift+H (Hide the call picture behind a card, or show it again) is taken by the "
        "desktop or another program; this keyboard has no Ctrl+Alt+Shift+Launch9 (Mirror the output). "
        "Pick other keys in Settings…")
    _xdotool("key", "ctrl+alt+shift+h", "ctrl+alt+shift+x")
    qtbot.waitUntil(lambda: len(heard) == 1, timeout=5000)
    qtbot.wait(200)
    assert heard == [("calibrate", True)]
    listener.stop()
    holder.close()


def test_pynput_keys_are_heard_and_handed_to_the_qt_thread(qtbot, x_display):
    keyboard = pytest.importorskip("pynput.keyboard", reason="pynput is installed on Windows and macOS "
                                                             "(requirements.txt), on Linux by requirements-dev.txt")
    keys = {"hide": "Ctrl+Alt+Shift+H", "previous_avatar": "Ctrl+Alt+Shift+PgUp", "avatar_9": "Ctrl+Alt+Shift+F9"}
    listener, listening, heard = _listening(qtbot, keys, Backend.PYNPUT)
    assert listening.refused == {} and listening.unavailable is None
    _xdotool("key", "h", "ctrl+alt+shift+h", "ctrl+alt+shift+Prior", "ctrl+alt+shift+F9")
    qtbot.waitUntil(lambda: len(heard) == 3, timeout=5000)
    assert heard == [("hide", True), ("previous_avatar", True), ("avatar_9", True)]  # heard on pynput's thread
    listener.stop()
    _xdotool("key", "ctrl+alt+shift+h")
    qtbot.wait(300)
    assert len(heard) == 3
    # On X11 pynput's thread ends at the first key after stop(): gone before the X server is.
    qtbot.waitUntil(lambda: not any(isinstance(t, keyboard.Listener) for t in threading.enumerate()), timeout=5000)


def test_the_window_calibrates_and_hides_by_global_keys_from_another_window(qtbot, tmp_path, camera_video,
                                                                            x_display):
    app_settings.save(app_settings.open_settings(tmp_path / "facade.ini"), app_settings.AppSettings(global_keys=True))
    window = open_window(qtbot, tmp_path, str(camera_video))
    try:
        qtbot.waitUntil(lambda: window.avatar_view.frames_shown > 3, timeout=15000)
        pipeline = window.session.pipeline
        qtbot.waitUntil(lambda: pipeline.calibrated, timeout=15000)
        assert Concern.KEYS not in window.warnings
        count = pipeline.calibrations
        _xdotool("key", "ctrl+alt+shift+x")
        qtbot.waitUntil(lambda: pipeline.calibrations == count + 1, timeout=5000)
        _xdotool("key", "ctrl+alt+shift+h")
        qtbot.waitUntil(lambda: window.session.hidden, timeout=5000)
        assert window.hide_button.isChecked()
        _xdotool("key", "ctrl+alt+shift+h")  # a toggle: again shows the call picture
        qtbot.waitUntil(lambda: not window.session.hidden, timeout=5000)
        _xdotool("key", "ctrl+alt+shift+F9")  # no ninth avatar: said, not lost
        qtbot.waitUntil(lambda: "9 is not one of them" in window.statusBar().currentMessage(), timeout=5000)
    finally:
        window.close()


@pytest.mark.parametrize("env, expected", [
    ({"DISPLAY": None, "WAYLAND_DISPLAY": None}, "Global keys are off: no X display (DISPLAY is not set)"),
    ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "DBUS_SESSION_BUS_ADDRESS": None, "XDG_RUNTIME_DIR": None},
     "Global keys are not available on Wayland: there is no session bus"),  # with one: tests/test_portal_keys.py
])
def test_no_global_keys_here_is_a_message_in_the_window(qtbot, tmp_path, camera_video, monkeypatch, env, expected):
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    app_settings.save(app_settings.open_settings(tmp_path / "facade.ini"), app_settings.AppSettings(global_keys=True))
    window = open_window(qtbot, tmp_path, str(camera_video))
    try:
        assert window.warnings[Concern.KEYS].startswith(expected)
        window.settings.global_keys = False
        window._apply_global_keys()
        assert Concern.KEYS not in window.warnings
    finally:
        window.close()


def test_a_global_key_bound_twice_or_to_a_window_key_is_refused_naming_both():
    window = {"calibrate": "X", "mirror": "M"}
    assert clash(window, {"calibrate": "Ctrl+Alt+Shift+X", "hide": "Ctrl+Alt+Shift+X"}) == (
        "Ctrl+Alt+Shift+X is bound to both “Calibrate (take the neutral pose)” and “Hide the call picture behind "
        "a card, or show it again”: give one of them another key")
    assert clash(window, {"record": "M"}).startswith("M is bound to both “Mirror the output” and “Record")
    assert clash({"calibrate": "F12"}, {"calibrate": "F12"}) == ""  # one action, the same key in both places
    assert "would be taken from every other program" in clash(window, {"hide": "Shift+H"})
    assert clash(window, {"hide": "F13", "calibrate": "Meta+C"}) == ""
    assert clash(window, _DEFAULT_GLOBAL) == ""


def test_settings_refuse_a_global_key_clash_and_store_global_keys(qtbot):
    from PySide6.QtGui import QKeySequence
    from PySide6.QtWidgets import QDialogButtonBox

    from app.dialogs import SettingsDialog

    settings = app_settings.AppSettings()
    assert not settings.global_keys  # off by default
    dialog = SettingsDialog(settings, None)
    qtbot.addWidget(dialog)
    dialog.show()
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    dialog._global_edits["record"].setKeySequence(QKeySequence("Ctrl+Alt+Shift+M"))
    assert not dialog.problem.isVisible()  # global keys are off: they cannot clash
    dialog.global_keys.setChecked(True)
    assert dialog.problem.isVisible() and dialog.problem.text() == (
        "Ctrl+Alt+Shift+M is bound to both “Record the call picture on/off” and “Mirror the output”: give one of "
        "them another key")
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    dialog._global_edits["mirror"].setKeySequence(QKeySequence("Ctrl+Alt+Shift+N"))
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    dialog.store(settings)
    assert settings.global_keys and settings.global_hotkeys["record"] == "Ctrl+Alt+Shift+M"


def test_global_keys_are_stored_and_new_actions_get_their_defaults(tmp_path):
    store = app_settings.open_settings(tmp_path / "facade.ini")
    settings = app_settings.AppSettings(global_keys=True)
    settings.global_hotkeys = {"calibrate": "F13"}  # as an earlier version with fewer actions saved them
    app_settings.save(store, settings)
    loaded = app_settings.load(app_settings.open_settings(tmp_path / "facade.ini"))
    assert loaded.global_keys and loaded.global_hotkeys == {**_DEFAULT_GLOBAL, "calibrate": "F13"}


def test_a_key_toggles_what_the_api_names_each_way():
    hide = BY_NAME["hide"].action
    assert toggled(hide, State(hidden=False)) == Action(Command.HIDE)
    assert toggled(hide, State(hidden=True)) == Action(Command.SHOW)
    assert toggled(BY_NAME["record"].action, State(recording=True)) == Action(Command.RECORD_STOP)
    vcam_off = Action(Command.VIRTUAL_CAMERA_OFF)
    assert toggled(BY_NAME["virtual_camera"].action, State(virtual_camera=True)) == vcam_off
    assert toggled(BY_NAME["avatar_4"].action, State(hidden=True)) == Action(Command.AVATAR, 4)


def test_qt_keys_in_pynput_syntax():
    assert pynput_key("Ctrl+Alt+Shift+X", "win32") == "<ctrl>+<alt>+<shift>+x"
    assert pynput_key("Ctrl+Alt+Shift+PgDown", "win32") == "<ctrl>+<alt>+<shift>+<page_down>"
    assert pynput_key("Meta+F9", "win32") == "<cmd>+<f9>"
    assert pynput_key("Ctrl+Meta+K", "darwin") == "<cmd>+<ctrl>+k"  # Qt's Ctrl is ⌘ on a Mac
    assert pynput_key("Ctrl++", "linux") == "<ctrl>++"
