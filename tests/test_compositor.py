"""The call picture: the face pasted back into the whole portrait, and nothing of the camera in it."""

import cv2
import numpy as np

from conftest import ASTRONAUT, moved
from core.compose.compositor import Compositor, OutputSettings
from core.engines import EngineChoice
from core.face.avatar import load_portrait
from core.live.builder import LiveSetup, build_pipeline
from core.live.sinks import CallbackSink
from core.media.video_io import Mp4Writer


def test_at_rest_the_picture_is_the_portrait_and_still_outside_the_face():
    portrait, crop = load_portrait(ASTRONAUT)
    for fit in ("cover", "contain"):
        compositor = Compositor(portrait, crop, OutputSettings(size=(1280, 720), fit=fit))
        rest = compositor.compose(crop.extract(portrait, 256))
        assert rest.shape == (720, 1280, 3)
        moving = compositor.compose(moved(crop.extract(portrait, 256), dx=20, angle=10))
        touched = ((rest != compositor.background) | (moving != compositor.background)).any(2)
        ys, xs = np.nonzero(touched)
        # Only the face crop's square is touched; the rest of the picture is the portrait, exactly.
        scale = (max if fit == "cover" else min)(1280 / portrait.shape[1], 720 / portrait.shape[0])
        assert touched.any() and xs.ptp() <= crop.size * scale + 2 and ys.ptp() <= crop.size * scale + 2
        difference = np.abs(rest.astype(int) - compositor.background.astype(int))
        assert difference.mean() < 1.0 and np.percentile(difference, 99.5) < 24


def test_the_cover_fit_keeps_the_face_in_the_picture():
    portrait, crop = load_portrait(ASTRONAUT)  # square portrait, face near the top
    compositor = Compositor(portrait, crop, OutputSettings(size=(1280, 720), fit="cover"))
    picture = compositor.compose(crop.extract(portrait, 256))
    from core.face.landmarks import FaceLandmarker

    landmarker = FaceLandmarker(video=False)
    try:
        faces = landmarker.detect(picture)
    finally:
        landmarker.close()
    assert faces and 0.2 * 720 < faces[0][:, 1].mean() < 0.6 * 720


def test_the_camera_picture_never_reaches_the_call(tmp_path, astronaut):
    marker = np.array([255, 0, 255], np.uint8)
    clip = tmp_path / "marked.mp4"
    writer = Mp4Writer(clip, 30, (640, 360))
    face = cv2.resize(astronaut, (300, 300), interpolation=cv2.INTER_AREA)
    for i in range(45):
        canvas = np.tile(marker, (360, 640, 1))
        if not 15 <= i < 25:  # and ten frames with no face at all
            canvas[30:330, 170:470] = moved(face, dx=6 * np.sin(i / 5))
        writer.write(canvas)
    writer.close()
    pictures = []
    pipeline = build_pipeline(LiveSetup(camera=clip, avatar=ASTRONAUT, choice=EngineChoice(engine="mesh")),
                              [CallbackSink(lambda frame: pictures.append(frame.picture))]).start()
    pipeline.wait(timeout=30)
    pipeline.stop()
    assert len(pictures) > 10
    for picture in pictures:
        assert picture.shape == (720, 1280, 3)
        distance = np.abs(picture.astype(int) - marker.astype(int)).max(2)
        assert (distance < 60).sum() == 0
