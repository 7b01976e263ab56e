"""Bad input gets one plain sentence: configs, checkpoints, images, settings, the Settings dialog."""

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml
from PySide6.QtCore import Qt

from conftest import ASTRONAUT, ROOT, TINY_CONFIG, open_window
from main import main


@pytest.mark.parametrize("section, key, value, message", [
    ("common_params", "num_kp", "ten", "common_params.num_kp: needs a whole number"),
    ("common_params", "num_kp", -1, "common_params.num_kp: needs a whole number of at least 1"),
    ("common_params", "num_kp", 0, "at least 1"),
    ("kp_detector_params", "scale_factor", 0, "kp_detector_params.scale_factor: needs a number above 0"),
    ("kp_detector_params", "temperature", "hot", "kp_detector_params.temperature: needs a number above 0"),
    ("generator_params", "block_expansion", 0.5, "generator_params.block_expansion: needs a whole number"),
    ("common_params", "num_channels", 1, "num_channels: Facade animates RGB pictures"),
    (None, "image_size", 8, "64 to 1024")])
def test_bad_config_values_are_one_error_line_naming_the_key(tmp_path, capsys, driving_clip, tiny_checkpoint,
                                                             section, key, value, message):
    config = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    (config["model_params"][section] if section else config["model_params"])[key] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    code = main(["animate", "--avatar", str(ASTRONAUT), "--driving", str(driving_clip), "--out",
                 str(tmp_path / "o.mp4"), "--engine", "fomm", "--config", str(path), "--checkpoint",
                 str(tiny_checkpoint)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize("spoil, message", [(lambda t: t.fill_(math.nan), "NaN or infinite"),
                                            (lambda t: t.fill_(math.inf), "NaN or infinite"),
                                            (lambda t: t.to(torch.int32), "int32 numbers, not floating point")])
def test_checkpoints_with_broken_numbers_are_refused(tmp_path, capsys, tiny_checkpoint, tiny_config_path,
                                                     driving_clip, spoil, message):
    state = torch.load(tiny_checkpoint, weights_only=True)
    key = next(k for k in state["generator"] if k.endswith("final.weight"))
    state["generator"][key] = spoil(state["generator"][key].clone())
    path = tmp_path / "broken.pth.tar"
    torch.save(state, path)
    code = main(["animate", "--avatar", str(ASTRONAUT), "--driving", str(driving_clip), "--out",
                 str(tmp_path / "o.mp4"), "--checkpoint", str(path), "--config", str(tiny_config_path)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "final.weight" in err and err.count("\n") == 1


def test_an_exif_rotated_jpeg_is_read_upright(tmp_path, astronaut):
    from core.media.images import read_image

    sideways = np.ascontiguousarray(np.rot90(astronaut, 1))  # stored turned left; EXIF 6 says turn it right
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(sideways, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    # An APP1 Exif segment with Orientation 6 (rotate 90 clockwise to view), inserted after SOI.
    tiff = (b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x01" + b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00"
            + b"\x00\x00\x00\x00")
    app1 = b"\xff\xe1" + (len(tiff) + 8).to_bytes(2, "big") + b"Exif\x00\x00" + tiff
    path = tmp_path / "phone.jpg"
    path.write_bytes(jpeg.tobytes()[:2] + app1 + jpeg.tobytes()[2:])
    upright = read_image(path)
    assert upright.shape == astronaut.shape
    assert np.abs(upright.astype(int) - astronaut).mean() < 6


def test_non_finite_or_out_of_range_settings_fall_back_to_their_defaults(tmp_path, qtbot):
    from app import settings as app_settings

    store = app_settings.open_settings(tmp_path / "s.ini")
    for key, value in (("smoothing", "nan"), ("countdown", "inf"), ("output_size", "99999x1"),
                       ("background", "plaid"), ("fit", "stretch")):
        store.setValue(key, value)
    store.sync()
    loaded = app_settings.load(app_settings.open_settings(tmp_path / "s.ini"))
    defaults = app_settings.AppSettings()
    assert loaded.smoothing == defaults.smoothing and loaded.countdown == defaults.countdown
    assert (loaded.output_size, loaded.background, loaded.fit) == (defaults.output_size, defaults.background,
                                                                   defaults.fit)


def test_esc_in_settings_closes_the_dialog_instead_of_becoming_a_key(qtbot):
    from app.dialogs import SettingsDialog
    from app.settings import AppSettings

    settings = AppSettings()
    dialog = SettingsDialog(settings, None)
    qtbot.addWidget(dialog)
    dialog.show()
    edit = dialog._edits["calibrate"]
    edit.setFocus()
    qtbot.keyClick(edit, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
    dialog.store(settings)
    assert settings.hotkeys["calibrate"] == "X"


def test_no_display_is_one_error_line_not_an_abort(monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    code = main([])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: no display") and "xvfb-run" in err and err.count("\n") == 1


def test_missing_qt_libraries_are_named_with_the_packages_to_install(monkeypatch, capsys):
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setattr("core.tools.display.missing_xcb_libraries",
                        lambda: ["libxcb-cursor.so.0", "libxkbcommon-x11.so.0"])
    code = main([])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: the window cannot open: Qt's X11 plugin needs libxcb-cursor.so.0, libxkbcommon-x11.so.0")
    assert "sudo apt install libxcb-cursor0 libxkbcommon-x11-0" in err


def test_a_real_unresolved_library_of_the_plugin_is_found(tmp_path, monkeypatch):
    """A copy of Qt's xcb plugin whose link to libxcb-cursor is renamed: the loader really cannot find it."""
    from core.tools import display

    plugin = display._xcb_plugin()
    if plugin is None:
        pytest.fail("PySide6's xcb plugin is missing from this install")
    # What this machine itself lacks (CI has no X11 libraries) stays missing beside the renamed link.
    already = [name for name in display.missing_xcb_libraries() if name != "libxcb-cursor.so.0"]
    data = plugin.read_bytes()
    assert b"libxcb-cursor.so.0\0" in data
    (tmp_path / "Qt" / "plugins" / "platforms").mkdir(parents=True)
    (tmp_path / "Qt" / "lib").symlink_to(plugin.parents[2] / "lib")  # the plugin finds Qt's own libraries here
    broken = tmp_path / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    broken.write_bytes(data.replace(b"libxcb-cursor.so.0\0", b"libxcb-cursorX.so0\0"))
    monkeypatch.setattr(display, "_xcb_plugin", lambda: broken)
    assert sorted(display.missing_xcb_libraries()) == sorted(["libxcb-cursorX.so0", *already])
    problem = display.display_problem({"DISPLAY": ":0"}, "linux")
    assert "libxcb-cursorX.so0" in problem.reason and "apt install" in problem.advice
    assert display.display_problem({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert isinstance(display.display_problem({"QT_QPA_PLATFORM": "xcb"}, "linux"), display.NoDisplay)


def test_doctor_checks_the_display(monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    code = main(["doctor", "--json"])
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["display"]["status"] == "warning" and "no display" in checks["display"]["detail"]
    assert code == (1 if any(c["status"] == "failed" for c in checks.values()) else 0)  # a warning is no failure
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr("core.tools.display.missing_xcb_libraries", lambda: [])  # whatever this machine lacks
    main(["doctor", "--json"])
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["display"]["status"] == "ok"
    monkeypatch.setattr("core.tools.display.missing_xcb_libraries", lambda: ["libxcb-cursor.so.0"])
    assert main(["doctor", "--json"]) == 1  # a FAILED check: scripts can tell from the exit status
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["display"]["status"] == "failed" and "libxcb-cursor0" in checks["display"]["advice"]


def test_only_documented_folders_are_searched_and_strangers_are_skipped(tmp_path, monkeypatch, tiny_checkpoint,
                                                                       caplog):
    from core.engines import checkpoints

    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    torch.save({"resnet": torch.zeros(1)}, tmp_path / "checkpoints" / "resnet18.pth")  # the current folder
    user = tmp_path / "user"
    user.mkdir()
    monkeypatch.setattr(checkpoints, "user_checkpoint_dir", lambda: user)
    monkeypatch.setattr(checkpoints, "ROOT", tmp_path / "install")
    assert checkpoints.find_checkpoint() is None  # the current folder is not a documented place
    torch.save({"resnet": torch.zeros(1)}, user / "resnet18.pth")
    assert checkpoints.find_checkpoint() is None and "skipped" in caplog.text and "resnet18.pth" in caplog.text
    (user / "vox-cpk.pth.tar").write_bytes(tiny_checkpoint.read_bytes())
    assert checkpoints.find_checkpoint() == user / "vox-cpk.pth.tar"


def test_bench_names_a_checkpoint_only_for_fomm_and_convert_explains_its_arguments(capsys):
    import json as json_module

    assert main(["bench", "--engine", "mesh", "--frames", "2", "--json"]) == 0
    assert "checkpoint" not in json_module.loads(capsys.readouterr().out)
    with pytest.raises(SystemExit):
        main(["convert", "--help"])
    assert ".safetensors file to write" in capsys.readouterr().out


def test_a_still_image_as_the_camera_is_one_error_line(capsys, tmp_path):
    code = main(["run", "--camera", str(ASTRONAUT), "--avatar", str(ASTRONAUT), "--max-frames", "5", "--stats-json",
                 str(tmp_path / "s.json")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: {ASTRONAUT}: a still image, not a camera or a video")
    assert "--avatar" in err and err.count("\n") == 1


@pytest.mark.parametrize("suffix", [".gif", ".avi", ".webm", ".mkv", ".mov"])
def test_out_writes_the_container_its_extension_names(capsys, tmp_path, driving_clip, suffix):
    out = tmp_path / f"x{suffix}"
    assert main(["animate", "--avatar", str(ASTRONAUT), "--driving", str(driving_clip), "--out", str(out),
                 "--engine", "mesh", "--crop-only"]) == 0
    import imageio_ffmpeg

    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(out))  # ffmpeg decodes it (OpenCV has no AV1)
    assert out.is_file() and frames == 6
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_an_unknown_extension_is_refused_naming_the_choices(capsys, tmp_path, driving_clip):
    code = main(["animate", "--avatar", str(ASTRONAUT), "--driving", str(driving_clip), "--out",
                 str(tmp_path / "x.xyz")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write .xyz files" in err and ".gif" in err and not (tmp_path / "x.xyz").exists()


@pytest.mark.parametrize("option, message", [(["--device", "nosuchdevice"], "--device nosuchdevice: unknown device"),
                                             (["--config", "nosuchconfig"], "unknown config 'nosuchconfig'"),
                                             (["--checkpoint", "gone.pth.tar"], "gone.pth.tar: checkpoint file not found")])
def test_every_engine_option_is_checked_whatever_the_engine(capsys, tmp_path, driving_clip, option, message):
    code = main(["animate", "--avatar", str(ASTRONAUT), "--driving", str(driving_clip), "--out",
                 str(tmp_path / "o.mp4"), "--engine", "mesh", *option])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "o.mp4").exists()


def test_options_the_engine_does_not_read_are_named(capsys, tmp_path, driving_clip, tiny_config_path):
    code = main(["animate", "--avatar", str(ASTRONAUT), "--driving", str(driving_clip), "--out",
                 str(tmp_path / "o.mp4"), "--engine", "mesh", "--device", "cpu", "--config", str(tiny_config_path)])
    err = capsys.readouterr().err
    assert code == 0 and "note: --config, --device have no effect on the mesh engine" in err
    assert (tmp_path / "o.mp4").is_file()


def test_ctrl_c_stops_a_run_waiting_on_a_silent_stream_at_once(silent_stream, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from conftest import ROOT

    url, accepted = silent_stream
    run = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "run", "--camera", url, "--avatar", str(ASTRONAUT),
                            "--stats-json", str(tmp_path / "s.json")],
                           stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert accepted.wait(60)  # the run is now inside the stream's open
    time.sleep(0.5)
    run.send_signal(signal.SIGINT)
    asked = time.monotonic()
    code = run.wait(timeout=10)
    assert time.monotonic() - asked < 1.5 and code == 130
    assert run.stderr.read().strip().splitlines()[-1] == "interrupted"


def test_first_run_without_a_camera_shows_the_avatar_and_offers_a_video_file(qtbot, tmp_path, camera_video,
                                                                            monkeypatch):
    from core.live.events import EventKind

    window = open_window(qtbot, tmp_path, camera="7")
    qtbot.waitUntil(lambda: window.avatar_view.frames_shown >= 1, timeout=10000)  # the avatar at rest, at once
    rest = window.avatar_view._image
    assert (rest.width(), rest.height()) == (1280, 720) and rest.pixelColor(640, 300).lightness() > 40
    qtbot.waitUntil(lambda: EventKind.SOURCE in window.warnings, timeout=5000)
    assert window.warnings[EventKind.SOURCE].startswith("No camera found (camera 7 does not open). Plug one in")
    row = window.banner.row(EventKind.SOURCE)
    assert [b.text() for b in row.buttons] == ["Video file…", "Look again"]
    qtbot.mouseClick(row.buttons[1], Qt.MouseButton.LeftButton)
    assert window.statusBar().currentMessage() == "Still no camera found"
    monkeypatch.setattr("app.main_window.QFileDialog.getOpenFileName", lambda *a, **k: (str(camera_video), ""))
    qtbot.mouseClick(window.banner.row(EventKind.SOURCE).buttons[0], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.camera_view.frames_shown > 3, timeout=15000)
    assert EventKind.SOURCE not in window.warnings and window.settings.camera == str(camera_video)
    assert window.controls.camera_box.currentText() == camera_video.name
    window.close()


def test_an_avatar_from_elsewhere_is_shown_in_the_gallery_not_copied(qtbot, tmp_path, camera_video, astronaut):
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QFontMetrics

    mine = tmp_path / "elsewhere" / "my portrait.png"
    mine.parent.mkdir()
    cv2.imwrite(str(mine), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    window = open_window(qtbot, tmp_path, camera=str(camera_video), avatar=str(mine))
    qtbot.waitUntil(lambda: window.avatar_view.frames_shown > 3, timeout=15000)
    gallery = window.gallery
    assert gallery.currentItem().data(Qt.ItemDataRole.UserRole) == str(mine)
    assert gallery.currentItem().text().endswith(". my portrait") and not (tmp_path / "avatars").exists()
    gallery.remove(str(mine))  # leaves the list; the file stays where it is
    assert str(mine) not in gallery.paths() and mine.is_file()
    # Every name fits its cell in at most two lines (the longest bundled one is "astronaut-duotone").
    metrics, cell = QFontMetrics(gallery.font()), gallery.gridSize()
    for i in range(gallery.count()):
        text = gallery.item(i).text()
        box = metrics.boundingRect(QRect(0, 0, cell.width() - 8, 1000), Qt.TextFlag.TextWordWrap, text)
        assert box.width() <= cell.width() - 8 and box.height() <= 2 * metrics.lineSpacing(), text
    window.close()


def test_an_avatar_that_cannot_be_used(qtbot, tmp_path, capsys, camera_video):
    bad = tmp_path / "astronaut.png"
    bad.write_text("not a picture")
    assert main(["--avatar", str(bad)]) == 2  # on the command line: one error line, no window
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}: not an image") and err.count("\n") == 1
    assert main(["--avatar", str(tmp_path), "--camera", "nosuchvideo.mp4"]) == 2  # arguments first, display last
    assert capsys.readouterr().err == f"error: {tmp_path}: a folder, not an image\n"
    assert main(["--camera", "nosuchvideo.mp4"]) == 2 and "nosuchvideo.mp4: camera index" in capsys.readouterr().err
    # A stored avatar that went bad: the window starts with a bundled one and says why, never stuck "Opening".
    window = open_window(qtbot, tmp_path, camera=str(camera_video), avatar=str(bad))
    qtbot.waitUntil(lambda: window.avatar_view.frames_shown > 3, timeout=15000)
    from app.main_window import Concern

    assert window.warnings[Concern.AVATAR].startswith(f"{bad}: not an image") and "Showing" in window.warnings[
        Concern.AVATAR]
    assert window.settings.avatar == window.gallery.paths()[0] and window.camera_view.frames_shown > 0
    window.close()


def test_a_key_bound_to_two_actions_is_refused_naming_both(qtbot):
    from PySide6.QtGui import QKeySequence
    from PySide6.QtWidgets import QDialogButtonBox

    from app.dialogs import SettingsDialog
    from app.settings import AppSettings

    settings = AppSettings()
    dialog = SettingsDialog(settings, None)
    qtbot.addWidget(dialog)
    dialog.show()
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    dialog._edits["record"].setKeySequence(QKeySequence("M"))  # M already mirrors
    assert dialog.problem.isVisible()
    assert dialog.problem.text() == ("M is bound to both “Record the call picture on/off” and “Mirror the "
                                     "output”: give one of them another key")
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()  # refused: OK keeps the dialog open
    dialog._edits["mirror"].setKeySequence(QKeySequence("N"))
    assert not dialog.problem.isVisible()
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    dialog.store(settings)
    assert (settings.hotkeys["record"], settings.hotkeys["mirror"]) == ("M", "N")


# A file size limit (RLIMIT_FSIZE, with SIGXFSZ ignored) makes writes fail past it as a full disk does, in a
# process of its own: EFBIG where a full disk gives ENOSPC, through the same write calls.
_FULL_DISK = """
import resource, signal, sys
sys.path.insert(0, "tests")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
"""


def _with_a_full_disk(code: str):
    import subprocess
    import sys

    from conftest import ROOT

    return subprocess.run([sys.executable, "-c", _FULL_DISK + code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_convert_onto_a_full_disk_is_one_error_line_and_leaves_no_file(tmp_path, tiny_checkpoint):
    out = tmp_path / "tiny.safetensors"
    done = _with_a_full_disk(f"from main import main; sys.exit(main(['convert', {str(tiny_checkpoint)!r}, "
                             f"{str(out)!r}]))")
    assert done.returncode == 2 and done.stderr == f"error: {out}: cannot write (File too large)\n"
    assert list(tmp_path.iterdir()) == []


def test_a_training_checkpoint_onto_a_full_disk_is_an_error_naming_it_and_leaves_no_file(tmp_path):
    out = tmp_path / "model.pth.tar"
    done = _with_a_full_disk(f"""
from pathlib import Path
from conftest import TINY_CONFIG
from core.errors import UserError
from core.tools.train import _save
from models.config import config_from_dict
from models.training import Trainer, train_config_from_dict
trainer = Trainer(config_from_dict(TINY_CONFIG, "tiny"), train_config_from_dict({{}}))
try:
    _save(trainer, Path({str(out)!r}))
except UserError as exc:
    print(exc)
""")
    assert done.returncode == 0 and done.stdout == f"{out}: cannot write (File too large)\n", done.stderr
    assert list(tmp_path.iterdir()) == []


_LONG = "n" * 252  # with an extension, 256 bytes or more: one more than ext4 and most file systems allow


@pytest.mark.parametrize("command, out", [
    ("animate", _LONG + ".mp4"), ("animate", _LONG + "-frames"), ("record", _LONG + ".mp4"),
    ("stats-json", _LONG + ".json"), ("prepare-data", _LONG + "-data"), ("train", _LONG + ".pth.tar"),
    ("convert", _LONG + ".safetensors")])
def test_an_output_name_too_long_for_the_file_system_is_one_error_line_naming_it(tmp_path, capsys, driving_clip,
                                                                                tiny_checkpoint,
                                                                                tiny_config_path, command, out):
    out = tmp_path / out
    argv = {"animate": ["animate", "--avatar", ASTRONAUT, "--driving", driving_clip, "--out", out],
            "record": ["run", "--camera", driving_clip, "--avatar", ASTRONAUT, "--record", out],
            "stats-json": ["run", "--camera", driving_clip, "--avatar", ASTRONAUT, "--stats-json", out],
            "prepare-data": ["prepare-data", driving_clip, "--out", out],
            "train": ["train", "--config", tiny_config_path, "--data", tmp_path, "--out", out],
            "convert": ["convert", tiny_checkpoint, out]}[command]
    assert main([str(a) for a in argv]) == 2
    assert capsys.readouterr().err == (f"error: {out}: a name of {len(out.name)} bytes, longer than this file system "
                                       f"allows (255); choose a shorter name\n")
    assert list(tmp_path.iterdir()) == []


def test_an_output_name_that_is_only_an_extension_is_refused(tmp_path, capsys, monkeypatch, driving_clip):
    monkeypatch.chdir(tmp_path)
    assert main(["animate", "--avatar", str(ASTRONAUT), "--driving", str(driving_clip), "--out", ".mp4"]) == 2
    assert capsys.readouterr().err == "error: .mp4: the name is only an extension; give it a name before it (video.mp4)\n"
    assert list(tmp_path.iterdir()) == []  # no hidden folder of frames


@pytest.mark.parametrize("command", ["animate", "run"])
def test_a_video_name_with_an_extension_no_writer_has_is_refused_alike_by_animate_and_run(tmp_path, capsys,
                                                                                          driving_clip, command):
    out = tmp_path / "r.txt"
    argv = (["animate", "--avatar", ASTRONAUT, "--driving", driving_clip, "--out", out] if command == "animate" else
            ["run", "--camera", driving_clip, "--avatar", ASTRONAUT, "--record", out])
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {out}: cannot write .txt files; use a name ending in .mp4, ") and err.count("\n") == 1
    assert ("folder name without an extension" in err) == (command == "animate")  # run records videos only
    assert list(tmp_path.iterdir()) == []


def test_prepare_data_onto_a_file_or_a_folder_that_refuses_new_ones_is_one_error_line(tmp_path, capsys,
                                                                                     driving_clip):
    import os

    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    assert main(["prepare-data", str(driving_clip), "--out", str(a_file)]) == 2
    assert capsys.readouterr().err == f"error: {a_file}: exists and is not a folder; give the name of a folder to fill\n"
    assert a_file.read_text() == "mine"
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o555)
    if os.geteuid() == 0:  # root writes in any folder whatever its mode; sysfs makes no folders even for root
        read_only = Path("/sys")
    out = read_only / "data"
    assert main(["prepare-data", str(driving_clip), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {out}: cannot write in {read_only} (") and err.count("\n") == 1


def test_doctor_says_in_its_help_that_a_failed_check_exits_1(capsys):
    with pytest.raises(SystemExit):
        main(["doctor", "--help"])
    assert "1 when any check FAILED" in " ".join(capsys.readouterr().out.split())


def test_run_with_no_output_is_refused_naming_the_options_that_give_one(capsys):
    code = main(["run", "--camera", str(ASTRONAUT), "--avatar", str(ASTRONAUT), "--max-frames", "5"])
    assert code == 2 and capsys.readouterr().err == (
        "error: run: no output: the animation would go nowhere; give --virtual-cam, --ndi, --record OUT.mp4 or "
        "--stats-json FILE (any of them, or several)\n")


@pytest.mark.parametrize("statuses, code", [(("ok", "ok"), 0), (("ok", "warning"), 0), (("warning", "failed"), 1)])
def test_doctor_exits_1_only_when_a_check_failed(monkeypatch, capsys, statuses, code):
    from core.tools.doctor import Check

    monkeypatch.setattr("core.tools.doctor.run_checks",
                        lambda checkpoint: [Check(f"check {n}", status, "detail") for n, status in enumerate(statuses)])
    assert main(["doctor"]) == code
    assert ("FAILED" in capsys.readouterr().out) == bool(code)


def test_a_stray_file_that_is_no_zip_in_the_checkpoints_folder_is_skipped_not_blocking(tmp_path, monkeypatch, capsys,
                                                                                       tiny_checkpoint, caplog,
                                                                                       tiny_config_path, driving_clip):
    from core.engines import checkpoints

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    monkeypatch.setattr(checkpoints, "user_checkpoint_dir", lambda: folder)
    monkeypatch.setattr(checkpoints, "ROOT", tmp_path / "install")
    # The preferred name, but an interrupted download's HTML page: it must not stand in for the real one.
    (folder / "vox-adv-cpk.pth.tar").write_text("<html>Quota exceeded</html>")
    (folder / "vox-cpk.pth.tar").write_bytes(tiny_checkpoint.read_bytes())
    legacy = tmp_path / "legacy" / "old-cpk.pth.tar"
    legacy.parent.mkdir()
    torch.save(torch.load(tiny_checkpoint, weights_only=True), legacy, _use_new_zipfile_serialization=False)
    assert checkpoints._looks_like_fomm(legacy)  # torch's format before zip files is still a checkpoint
    out = tmp_path / "o.mp4"
    code = main(["animate", "--avatar", str(ASTRONAUT), "--driving", str(driving_clip), "--out", str(out),
                 "--engine", "fomm", "--config", str(tiny_config_path)])
    assert code == 0 and out.stat().st_size > 0, capsys.readouterr().err
    assert f"skipped {folder / 'vox-adv-cpk.pth.tar'}: not a FOMM checkpoint" in caplog.text


@pytest.mark.parametrize("engine", ["mesh", "fomm"])
def test_no_face_in_the_avatar_offers_the_whole_image_only_to_an_engine_that_can_use_it(tmp_path, capsys, engine,
                                                                                     driving_clip, tiny_checkpoint,
                                                                                     tiny_config_path):
    faceless = tmp_path / "wall.png"
    cv2.imwrite(str(faceless), np.random.default_rng(0).integers(90, 110, (300, 300, 3), dtype=np.uint8))
    argv = ["animate", "--avatar", str(faceless), "--driving", str(driving_clip), "--out", str(tmp_path / "o.mp4"),
            "--engine", engine] + (["--checkpoint", str(tiny_checkpoint), "--config", str(tiny_config_path)]
                                   if engine == "fomm" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {faceless}: no face found in the image; pick a portrait") and err.count("\n") == 1
    assert ("or use the whole image centred (--avatar-whole-image)" in err) == (engine == "fomm")
    if engine == "mesh":  # and taking the advice it was given would have led nowhere
        assert "--avatar-whole-image cannot help it" in err
        assert main(argv + ["--avatar-whole-image"]) == 2
        assert "--avatar-whole-image cannot help it" in capsys.readouterr().err
    else:
        assert main(argv + ["--avatar-whole-image"]) == 0


@pytest.fixture
def sideways_clip(tmp_path, astronaut):
    """A clip stored sideways with a rotation tag, as a phone writes one, and its first frame as ffmpeg (and so
    every player) shows it: turned by the tag."""
    import subprocess

    import imageio_ffmpeg

    from core.media.video_io import Mp4Writer

    stored = cv2.resize(astronaut, (160, 96))  # wider than tall, so a frame read sideways shows in its shape
    plain = tmp_path / "plain.mp4"
    writer = Mp4Writer(plain, 25, (160, 96))
    for _ in range(4):
        writer.write(stored)
    writer.close()
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    clip = tmp_path / "phone.mp4"
    subprocess.run([ffmpeg, "-loglevel", "error", "-display_rotation", "90", "-i", str(plain), "-c", "copy",
                    str(clip)], check=True)
    shown = tmp_path / "shown.png"
    subprocess.run([ffmpeg, "-loglevel", "error", "-i", str(clip), "-frames:v", "1", str(shown)], check=True)
    return clip, cv2.cvtColor(cv2.imread(str(shown)), cv2.COLOR_BGR2RGB)


def test_a_video_rotation_tag_is_honoured_wherever_clips_are_read(sideways_clip):
    from core.live.capture import FrameSource
    from core.media.video_io import open_clip
    from core.tools.train import read_frame

    clip, shown = sideways_clip
    assert shown.shape == (160, 96, 3)  # the tag turns it upright: taller than wide
    first = next(open_clip(clip).frames())
    assert first.shape == shown.shape and np.abs(first.astype(int) - shown).mean() < 4
    trained = read_frame(clip, 0, 96)  # training squares frames, so the shape cannot tell: the content can
    assert np.abs(trained.astype(int) - cv2.resize(shown, (96, 96), interpolation=cv2.INTER_AREA)).mean() < 4
    source = FrameSource(clip)
    capture = source._open()
    ok, live = capture.read()
    capture.release()
    assert ok and live.shape == shown.shape


@pytest.mark.parametrize("script", ["render_strip.py", "render_call_picture.py"])
def test_the_developer_scripts_answer_a_missing_file_in_one_line(script, tmp_path):
    import subprocess
    import sys

    missing = tmp_path / "no-such-clip.mp4"
    arguments = {"render_strip.py": ["--driving", str(missing), "--avatar", str(ASTRONAUT), "--frames", "1",
                                     "--out", str(tmp_path / "strip.png")],
                 "render_call_picture.py": ["--avatar", str(missing), "--picture", str(tmp_path / "call.jpg")]}[script]
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / script), *arguments], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    errors = [line for line in done.stderr.splitlines() if line.startswith(("error:", "Traceback"))]
    assert done.returncode == 2 and len(errors) == 1 and errors[0].startswith(f"error: {missing}: "), done.stderr
