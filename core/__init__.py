"""Facade's engine room: capture, face alignment, engines, sinks and pipelines. Imports no Qt."""

import os

# OpenCV logs every camera index it fails to open; Facade reports what matters in its own words.
os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
os.environ.setdefault("OPENCV_VIDEOIO_PRIORITY_OBSENSOR", "0")
