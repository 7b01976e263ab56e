"""The command line: animate, convert and bench end to end, and bad input as one error line with exit code 2."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import ASTRONAUT, ROOT
from main import main


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _animate_args(tiny_checkpoint, tiny_config_path, driving, out, *extra):
    return ["animate", "--avatar", ASTRONAUT, "--driving", driving, "--out", out, "--checkpoint", tiny_checkpoint,
            "--config", tiny_config_path, *extra]


def test_animate_to_mp4_writes_one_h264_frame_per_driving_frame(capsys, tiny_checkpoint, tiny_config_path,
                                                               driving_clip, tmp_path):
    out = tmp_path / "out.mp4"
    code, _, err = _run(capsys, *_animate_args(tiny_checkpoint, tiny_config_path, driving_clip, out, "--no-align"))
    assert code == 0, err
    capture = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    assert len(frames) == 6 and frames[0].shape == (256, 256, 3)
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(25)
    import imageio_ffmpeg

    info = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(out)], capture_output=True, text=True).stderr
    assert "h264" in info
    assert not list(tmp_path.glob(".*partial*"))


def test_animate_to_png_folder_names_frames_in_order(capsys, tiny_checkpoint, tiny_config_path, driving_clip,
                                                     tmp_path):
    out = tmp_path / "frames"
    code, _, err = _run(capsys, *_animate_args(tiny_checkpoint, tiny_config_path, driving_clip, out, "--no-align"))
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [f"{i:06d}.png" for i in range(6)]
    assert cv2.imread(str(out / "000005.png")).shape == (256, 256, 3)


def test_animate_from_a_folder_of_frames_with_absolute_and_adapt_scale(capsys, tiny_checkpoint, tiny_config_path,
                                                                       astronaut, tmp_path):
    frames = tmp_path / "driving"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"f{i:02d}.jpg"), cv2.cvtColor(np.roll(astronaut, 8 * i, axis=1), cv2.COLOR_RGB2BGR))
    for extra in (["--absolute"], ["--adapt-scale"]):
        out = tmp_path / f"out{extra[0]}"
        code, _, err = _run(capsys, *_animate_args(tiny_checkpoint, tiny_config_path, frames, out, "--no-align",
                                                   *extra))
        assert code == 0, err
        assert len(list(out.glob("*.png"))) == 3


def test_convert_to_safetensors_then_animate_with_it(capsys, tiny_checkpoint, tiny_config_path, driving_clip,
                                                     tmp_path):
    converted = tmp_path / "tiny.safetensors"
    code, _, err = _run(capsys, "convert", tiny_checkpoint, converted)
    assert code == 0, err
    a, b = tmp_path / "a", tmp_path / "b"
    _run(capsys, *_animate_args(tiny_checkpoint, tiny_config_path, driving_clip, a, "--no-align"))
    _run(capsys, *_animate_args(converted, tiny_config_path, driving_clip, b, "--no-align"))
    assert np.array_equal(cv2.imread(str(a / "000003.png")), cv2.imread(str(b / "000003.png")))


def test_bench_fomm_prints_the_contract_json(capsys, tiny_checkpoint, tiny_config_path):
    code, out, _ = _run(capsys, "bench", "--engine", "fomm", "--checkpoint", tiny_checkpoint, "--config",
                        tiny_config_path, "--frames", "2", "--json")
    assert code == 0
    result = json.loads(out)
    for key in ("engine", "device", "precision", "frames", "ms_per_frame", "fps", "kp_ms", "generator_ms"):
        assert key in result
    assert result["engine"] == "fomm" and result["frames"] == 2 and result["ms_per_frame"] > 0
    assert result["fps"] == pytest.approx(1000 / result["ms_per_frame"], rel=0.01, abs=0.01)  # fps has 2 decimals


@pytest.mark.parametrize("argv, expected", [
    (["animate", "--avatar", "missing.png", "--driving", "x.mp4", "--out", "o.mp4"], "missing.png: image not found"),
    (["animate", "--avatar", ASTRONAUT, "--driving", "nope.mp4", "--out", "o.mp4"], "nope.mp4: driving video"),
    (["bench", "--engine", "warp"], "invalid choice: 'warp'"),
    (["bench", "--engine", "fomm", "--config", "vox-512"], "unknown config 'vox-512'"),
    (["bench", "--engine", "fomm", "--device", "tpu"], "--device tpu: unknown device"),
    (["bench", "--engine", "fomm", "--frames", "0"], "--frames 0: must be at least 1"),
    (["convert", "missing.pth.tar", "out.safetensors"], "missing.pth.tar: checkpoint file not found"),
    # train and evaluate resolve --config as animate does: a shipped name passes, the missing --data is the error
    (["train", "--config", "vox-256", "--data", "nodata", "--out", "o.pth.tar"], "--data nodata: not found"),
    (["train", "--config", "vox-adv-256", "--data", "nodata", "--out", "o.pth.tar"], "--data nodata: not found"),
    (["evaluate", "--config", "vox-256", "--checkpoint", "c.pth.tar", "--data", "nodata"], "--data nodata: not found"),
    (["train", "--config", "vox-512", "--data", "nodata", "--out", "o.pth.tar"], "unknown config 'vox-512'"),
    (["evaluate", "--config", "gone.yaml", "--checkpoint", "c", "--data", "d"], "gone.yaml: config file not found"),
])
def test_bad_input_is_one_error_line_and_exit_code_2(capsys, tmp_path, monkeypatch, argv, expected):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) if "invalid choice" in expected else _no_exit():
        code, out, err = _run(capsys, *argv)
        assert code == 2
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err


class _no_exit:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_bad_checkpoint_through_a_real_process_has_no_traceback(tmp_path, driving_clip):
    bad = tmp_path / "bad.pth.tar"
    bad.write_bytes(b"\x00" * 100)
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "animate", "--avatar", str(ASTRONAUT),
                           "--driving", str(driving_clip), "--out", str(tmp_path / "o.mp4"), "--checkpoint", str(bad),
                           "--no-align"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith(f"error: {bad}: ") and "Traceback" not in proc.stderr
    assert not (tmp_path / "o.mp4").exists()


def test_argparse_errors_through_a_real_process_are_one_line(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "bench", "--engine", "warp"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith("error: argument --engine: invalid choice")


def test_animate_aligns_by_default_and_uses_mesh_without_a_checkpoint(capsys, driving_clip, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no checkpoints/ folder here
    out = tmp_path / "frames"
    code, _, err = _run(capsys, "animate", "--avatar", ASTRONAUT, "--driving", driving_clip, "--out", out)
    assert code == 0, err
    frames = sorted(out.glob("*.png"))
    assert len(frames) == 6
    first, last = cv2.imread(str(frames[0])), cv2.imread(str(frames[-1]))
    assert np.abs(first.astype(int) - last).mean() > 2  # the driving head moved, so did the avatar


def test_fomm_without_a_checkpoint_says_how_to_get_one(capsys, driving_clip, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("core.engines.checkpoints.search_dirs", lambda: [tmp_path / "checkpoints"])
    code, _, err = _run(capsys, "animate", "--avatar", ASTRONAUT, "--driving", driving_clip, "--out",
                        tmp_path / "o.mp4", "--engine", "fomm")
    assert code == 2
    assert "error: no FOMM checkpoint found; get vox-adv-cpk.pth.tar" in err and "mesh engine" in err


def test_animate_writes_the_whole_portrait_at_its_own_size_by_default(capsys, driving_clip, tmp_path, astronaut):
    out = tmp_path / "frames"
    code, _, err = _run(capsys, "animate", "--avatar", ASTRONAUT, "--driving", driving_clip, "--out", out,
                        "--engine", "mesh")
    assert code == 0, err
    first = cv2.cvtColor(cv2.imread(str(out / "000000.png")), cv2.COLOR_BGR2RGB)
    assert first.shape == astronaut.shape  # the portrait, not the face crop
    corner = (slice(0, 60), slice(0, 60))  # far from the face: the portrait itself, untouched
    assert np.array_equal(first[corner], astronaut[corner])
    crop_only = tmp_path / "crop"
    code, _, err = _run(capsys, "animate", "--avatar", ASTRONAUT, "--driving", driving_clip, "--out", crop_only,
                        "--engine", "mesh", "--crop-only")
    assert code == 0, err
    assert cv2.imread(str(crop_only / "000000.png")).shape == (256, 256, 3)


def test_animate_output_size_fit_and_green_background(capsys, driving_clip, tmp_path):
    out = tmp_path / "frames"
    code, _, err = _run(capsys, "animate", "--avatar", ASTRONAUT, "--driving", driving_clip, "--out", out,
                        "--engine", "mesh", "--output-size", "640x360", "--fit", "contain", "--background", "green")
    assert code == 0, err
    frame = cv2.cvtColor(cv2.imread(str(out / "000000.png")), cv2.COLOR_BGR2RGB)
    assert frame.shape == (360, 640, 3)
    assert np.abs(frame[:, :40].astype(int) - (0, 177, 64)).max() < 3  # the contain bars: the chroma colour


@pytest.mark.parametrize("option, value, message", [
    ("--output-size", "1281x720", "must be even"), ("--output-size", "big", "not a size"),
    ("--background", "plaid", "not a background"), ("--fit", "stretch", "invalid choice")])
def test_bad_output_options_are_one_error_line(capsys, driving_clip, tmp_path, option, value, message):
    code, _, err = _run_catching_exit(capsys, "animate", "--avatar", ASTRONAUT, "--driving", driving_clip,
                                      "--out", tmp_path / "o.mp4", option, value)
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1


def _run_catching_exit(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit:
        code = exit.code
    return code, None, capsys.readouterr().err


def test_run_on_a_short_clip_calibrates_on_the_first_face_when_asked_and_says_when_it_never_did(capsys, tmp_path,
                                                                                                 astronaut):
    from conftest import camera_clip

    # A second of a face that never holds still: automatic calibration waits for a steady, frontal face.
    clip = camera_clip(tmp_path / "sway.mp4", astronaut, 30,
                       motion=lambda i: {"dx": 20 * np.sin(i / 2), "angle": 10 * np.sin(i / 3)})

    def recorded(name, *extra):
        out = tmp_path / name
        code, _, err = _run(capsys, "run", "--camera", clip, "--avatar", ASTRONAUT, "--record", out,
                            "--output-size", "320x240", *extra)
        capture, frames = cv2.VideoCapture(str(out)), []
        while (frame := capture.read()[1]) is not None:
            frames.append(frame.astype(int))
        capture.release()
        return code, err, max(np.abs(f - frames[0]).mean() for f in frames)  # how far the picture moved

    code, err, moved = recorded("auto.mp4")
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert code == 0 and moved < 1  # frozen at rest: and it says so, once
    assert notes == ["note: never calibrated, so the avatar stayed at rest: no steady, frontal face came before "
                     "the end (--calibrate first takes the first face as the neutral pose)"]
    code, err, moved = recorded("first.mp4", "--calibrate", "first")
    assert code == 0 and "never calibrated" not in err and moved > 2


def test_the_readme_names_only_configs_and_files_the_repo_has():
    """Every --config in the README resolves (a shipped name), and no doc points outside the repository."""
    import re

    from models.config import config_path

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    names = set(re.findall(r"--config ([a-z][\w.-]*)", readme))  # not the placeholders (NAME|PATH.yaml, ..)
    assert {"vox-adv-256", "tiny-cpu"} <= names
    for name in names:
        assert config_path(name).is_file()
    for text in (readme, (ROOT / ".importlinter").read_text(encoding="utf-8")):
        assert "../shared" not in text and "TRAINING.md" not in text and "DESIGN.md" not in text
