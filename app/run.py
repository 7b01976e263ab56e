"""Starting the window."""

from __future__ import annotations

import signal
import sys

from PySide6.QtWidgets import QApplication

from core.paths import APP_NAME
from core.tools.crash_log import PreviousCrash

from . import settings as app_settings
from .main_window import MainWindow


def run_gui(camera: str | None = None, avatar: str | None = None, previous_crash: PreviousCrash | None = None) -> int:
    """Open the window; ``previous_crash``: the last session's crash, said in the banner."""
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    window = MainWindow(app_settings.open_settings(), camera=camera, avatar=avatar)
    if previous_crash is not None:
        window.report_crash(previous_crash)
    window.show()
    # Ctrl+C in the terminal closes the window properly (threads stopped, recording finalised).
    signal.signal(signal.SIGINT, lambda *_: window.close())
    signal.signal(signal.SIGTERM, lambda *_: window.close())
    return app.exec()
