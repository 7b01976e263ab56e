"""Qt releases that leak references to Python's singletons kill the window after minutes of live video.

PySide6 6.12.0 drops two references to None on every Python ``paintEvent`` call: after some 100 000 paints
(6 to 11 minutes of two live previews) None's count reaches zero and Python aborts with "none_dealloc". This
paints the real window thousands of times and fails on any release that does that to None, True or False.
"""

import sys

import numpy as np

from conftest import open_window

_PAINTS = 1500
# Other threads and Qt's own bookkeeping move the counts by a few dozen; the leak moved None by 2 per paint.
_TOLERANCE = 100


def _singleton_counts() -> dict[str, int]:
    return {"None": sys.getrefcount(None), "True": sys.getrefcount(True), "False": sys.getrefcount(False)}


def test_painting_the_window_keeps_none_true_and_false_alive(qtbot, tmp_path, camera_video):
    window = open_window(qtbot, tmp_path, str(camera_video))
    qtbot.waitUntil(lambda: window.avatar_view.frames_shown > 3, timeout=15000)
    window.session.stop()  # only painting moves the counts from here on
    frames = [np.full((180, 320, 3), level, np.uint8) for level in (40, 200)]
    window.camera_view.set_caption("3")

    def paint_everything(times: int) -> None:
        for i in range(times):
            window.camera_view.show_frame(frames[i % 2])
            window.avatar_view.show_frame(frames[(i + 1) % 2])
            window.repaint()

    paint_everything(50)  # caches, fonts, first-use allocations
    before = _singleton_counts()
    paint_everything(_PAINTS)
    after = _singleton_counts()

    assert window.avatar_view.frames_shown > _PAINTS
    changes = {name: after[name] - before[name] for name in before}
    assert all(abs(change) < _TOLERANCE for change in changes.values()), (
        f"reference counts moved by {changes} over {_PAINTS} paints of the window: this Qt release leaks "
        "references and would crash the window; keep PySide6 bounded in requirements.txt")
    window.close()
