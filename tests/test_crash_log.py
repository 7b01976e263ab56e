"""A fatal error is never silent: it reaches the terminal through the stderr filter, it is written to a crash
log, and the next start says where that log is."""

import subprocess
import sys

from conftest import ROOT, open_window


def _die_of_a_fatal_error(code: str) -> subprocess.CompletedProcess:
    script = "\n".join(["import ctypes, os, sys", f"sys.path.insert(0, {str(ROOT)!r})", code,
                         "print('still alive', file=sys.stderr)",
                         "ctypes.pythonapi.Py_FatalError(b'none_dealloc: deallocating None')"])
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)


def test_the_stderr_filter_passes_a_fatal_error_on_before_the_process_dies():
    for _ in range(3):  # a reader thread in the dying process lost these lines nearly every time
        died = _die_of_a_fatal_error("from core.tools.native_logs import route_native_stderr\n"
                                     "route_native_stderr()\n"
                                     "os.write(2, b'I0000 chatter from mediapipe\\n')")
        assert died.returncode != 0
        assert "still alive" in died.stderr
        assert "Fatal Python error: none_dealloc: deallocating None" in died.stderr
        assert "chatter" not in died.stderr


def _start(logs, then: str = "") -> str:
    """What a start of the window does about crashes (as main() does), then ``then``."""
    return (f"from pathlib import Path\n"
            f"from core.tools.crash_log import keep_previous_crash, watch_for_crashes\n"
            f"from core.tools.native_logs import route_native_stderr\n"
            f"print('previous:', keep_previous_crash(Path({str(logs)!r})), file=sys.stderr)\n"
            f"route_native_stderr(fatal_log=watch_for_crashes(Path({str(logs)!r})))\n{then}")


def test_pythons_fatal_error_is_logged_and_the_next_start_finds_the_log(tmp_path):
    logs = tmp_path / "logs"
    assert _die_of_a_fatal_error(_start(logs)).returncode != 0
    next_start = _die_of_a_fatal_error(_start(logs, "import faulthandler; faulthandler._sigsegv()"))
    assert "previous: PreviousCrash(log=" in next_start.stderr
    kept = sorted(logs.glob("crash *.log"))
    assert len(kept) == 1 and "Fatal Python error: none_dealloc: deallocating None" in kept[0].read_text()
    # That start died of a segmentation fault in native code: faulthandler wrote every thread's stack.
    text = (logs / "crash.log").read_text()
    assert "Segmentation fault" in text and "most recent call first" in text


def test_a_clean_session_leaves_no_crash_to_report(tmp_path):
    logs = tmp_path / "logs"
    for _ in range(2):
        clean = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
                                + _start(logs)], capture_output=True, text=True, timeout=60)
        assert clean.returncode == 0 and "previous: None" in clean.stderr


def test_the_window_says_the_last_session_crashed_and_where_the_log_is(qtbot, tmp_path, camera_video):
    from app.main_window import Concern
    from core.tools.crash_log import PreviousCrash

    window = open_window(qtbot, tmp_path, str(camera_video))
    log = tmp_path / "crash 2026-11-29 10-00-00.log"
    window.report_crash(PreviousCrash(log))
    assert str(log) in window.warnings[Concern.CRASH] and "crashed" in window.warnings[Concern.CRASH]
    assert [b.text() for b in window.banner.row(Concern.CRASH).buttons] == ["Open log"]
    window.close()
