"""Rebuild the stylised avatars in assets/avatars from the public-domain NASA portrait (astronaut.png).

    python scripts/make_avatars.py
"""

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.paths import BUNDLED_AVATARS as AVATARS  # noqa: E402


def painted(bgr):
    return cv2.stylization(bgr, sigma_s=60, sigma_r=0.45)


def duotone(bgr):
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    tinted = cv2.applyColorMap(cv2.equalizeHist(gray), cv2.COLORMAP_TWILIGHT_SHIFTED)
    return cv2.addWeighted(tinted, 0.55, cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), 0.45, 0)


def comic(bgr):
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    smooth = cv2.bilateralFilter(cv2.bilateralFilter(bgr, 9, 75, 75), 9, 75, 75).astype(np.int32)
    flat = np.clip((smooth // 40) * 40 + 20, 0, 255).astype(np.uint8)
    edges = cv2.adaptiveThreshold(cv2.medianBlur(gray, 7), 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 9, 5)
    return cv2.bitwise_and(flat, cv2.cvtColor(edges, cv2.COLOR_GRAY2BGR))


if __name__ == "__main__":
    source = cv2.imread(str(AVATARS / "astronaut.png"))
    for style in (painted, duotone, comic):
        cv2.imwrite(str(AVATARS / f"astronaut-{style.__name__}.png"), style(source), [cv2.IMWRITE_PNG_COMPRESSION, 9])
