"""Nothing the user made is overwritten, and a recording outlives the process that made it."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import ASTRONAUT, ROOT, camera_clip, frames_in
from core.media.files import write_text_file
from core.media.video_io import Mp4Writer, PngFolderWriter
from main import main


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err.strip().splitlines()


def _run_args(camera, *extra):
    return ["run", "--camera", camera, "--avatar", ASTRONAUT, "--no-align", "--output-size", "320x240", *extra]


def test_run_record_onto_an_earlier_recording_keeps_it_and_says_where_the_new_one_went(capsys, tmp_path,
                                                                                      camera_video):
    earlier = tmp_path / "take.mp4"
    earlier.write_bytes(b"an earlier recording")
    code, err = _cli(capsys, *_run_args(camera_video, "--max-frames", "5", "--record", earlier))
    assert code == 0, err
    assert earlier.read_bytes() == b"an earlier recording"
    new = tmp_path / "take (2).mp4"
    assert frames_in(new) >= 5
    assert [line for line in err if str(new) in line] == [next(line for line in err if line.startswith("recorded"))]


@pytest.mark.parametrize("which", ["avatar", "camera", "record"])
def test_stats_json_onto_an_input_or_the_recording_is_refused(capsys, tmp_path, camera_video, which):
    files = {"avatar": tmp_path / "me.png", "camera": tmp_path / "cam.mp4", "record": tmp_path / "rec.mp4"}
    shutil.copy(ASTRONAUT, files["avatar"])
    shutil.copy(camera_video, files["camera"])
    before = {name: path.read_bytes() for name, path in files.items() if path.exists()}
    code, err = _cli(capsys, "run", "--camera", files["camera"], "--avatar", files["avatar"], "--no-align",
                     "--max-frames", "2", "--record", files["record"], "--stats-json", files[which])
    assert code == 2 and len(err) == 1 and err[0].startswith(f"error: {files[which]}: ")
    assert {name: path.read_bytes() for name, path in files.items() if path.exists()} == before


def test_prepare_data_gives_clips_of_the_same_name_folders_of_their_own(capsys, tmp_path, astronaut):
    clips = []
    for folder, count in (("a", 3), ("c", 8)):
        (tmp_path / folder).mkdir()
        clips.append(camera_clip(tmp_path / folder / "clip.mp4", astronaut, count))
    out = tmp_path / "data"
    assert main(["prepare-data", *map(str, clips), "--out", str(out), "--size", "64"]) == 0, capsys.readouterr().err
    assert sorted(p.name for p in (out / "train").iterdir()) == ["clip", "clip-2"]
    # Each holds its own clip's faces (the tracker may leave out a frame it has not locked on yet).
    assert 1 <= len(list((out / "train" / "clip").iterdir())) <= 3 < len(list((out / "train" / "clip-2").iterdir()))


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the encoder in /proc")
def test_a_recording_survives_kill_9_of_the_app_and_of_its_encoder(tmp_path, camera_video):
    """As a power cut: nothing gets to finish the file, and it plays up to about its last second."""
    out = tmp_path / "rec.mp4"
    process = subprocess.Popen([sys.executable, str(ROOT / "main.py"),
                                *map(str, _run_args(camera_video, "--loop", "--record", out))],
                               cwd=tmp_path, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while not (out.exists() and out.stat().st_size > 2000):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(4.0)
        encoders = _children(process.pid)
        assert encoders  # ffmpeg
        for pid in encoders + [process.pid]:  # the encoder first: it must not get to write the file's end
            os.kill(pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert [p.name for p in tmp_path.iterdir()] == ["rec.mp4"]
    assert frames_in(out) >= 60  # of about 5 s recorded at 30 fps, all but the last second or so


@pytest.mark.skipif(sys.platform == "win32", reason="a file size limit (RLIMIT_FSIZE) stands in for a full disk")
def test_a_disk_filling_up_during_run_record_is_exit_2_and_keeps_what_was_recorded(tmp_path, camera_video):
    import resource

    def full_after_200_kb():
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    out = tmp_path / "rec.mp4"
    result = subprocess.run([sys.executable, str(ROOT / "main.py"),
                             *map(str, _run_args(camera_video, "--loop", "--record", out))],
                            cwd=tmp_path, capture_output=True, text=True, timeout=180, preexec_fn=full_after_200_kb)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    kept = tmp_path / "rec.partial.mp4"
    assert result.returncode == 2 and len(errors) == 1, result.stderr
    assert errors[0].startswith(f"error: {out}: ") and errors[0].endswith(f"what was recorded is kept in {kept}")
    assert [p.name for p in tmp_path.iterdir()] == [kept.name]
    assert frames_in(kept) >= 30


def test_a_symlinked_output_is_written_through_not_replaced(tmp_path):
    from core.tools.train import _save

    models = tmp_path / "models"
    models.mkdir()
    for name in ("me.pth.tar", "me.mp4"):
        (models / name).write_bytes(b"old")
        (tmp_path / name).symlink_to(models / name)
    _save(SimpleNamespace(save=lambda file: file.write(b"new")), tmp_path / "me.pth.tar")  # Trainer.save: to a file
    writer = Mp4Writer(tmp_path / "me.mp4", 25, (64, 64))
    writer.write(np.zeros((64, 64, 3), np.uint8))
    writer.close()
    assert (tmp_path / "me.pth.tar").is_symlink() and (models / "me.pth.tar").read_bytes() == b"new"
    assert (tmp_path / "me.mp4").is_symlink() and frames_in(models / "me.mp4") == 1
    assert writer.path == tmp_path / "me.mp4"
    assert sorted(p.name for p in models.iterdir()) == ["me.mp4", "me.pth.tar"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_outputs_follow_the_umask_and_files_holding_keys_stay_private(tmp_path):
    previous = os.umask(0o022)
    try:
        for recording in (True, False):
            writer = Mp4Writer(tmp_path / f"{recording}.mp4", 25, (64, 64), recording=recording)
            writer.write(np.zeros((64, 64, 3), np.uint8))
            writer.close()
        frames = PngFolderWriter(tmp_path / "frames")
        frames.write(np.zeros((8, 8, 3), np.uint8))
        frames.close()
        write_text_file(tmp_path / "stats.json", "{}")
        write_text_file(tmp_path / "pairing.txt", "facade1@...", private=True)
    finally:
        os.umask(previous)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == {"True.mp4": 0o644, "False.mp4": 0o644, "frames": 0o755, "stats.json": 0o644,
                     "pairing.txt": 0o600}
