"""The quality benchmark's arithmetic, pure numpy: identity, shape distortion, expressions, jitter, face loss.

Everything here works on 68-point landmarks in the iBUG/dlib order (jaw 0-16, brows 17-26, nose 27-35, eyes
36-47, lips 48-67) and 128-d identity descriptors, one row per frame, NaN rows where no face was found. The face
model that produces them lives in ``core.tools.quality``; nothing here needs it, so the sums are testable alone.

Units: lengths are in *face sizes*, the distance between the outer eye corners (36, 45) of the same face in the
same frame, so a driver filmed at 176x144 and an avatar pictured at 512x512 are compared on one scale.
"""

from __future__ import annotations

import numpy as np

# The points that only a rigid head motion moves (jaw outline, nose, eye corners); the jaw drops when the mouth
# opens wide, which the driver's own residual (the denominator of the distortion ratio) also contains.
RIGID = np.array(list(range(0, 17)) + list(range(27, 36)) + [36, 39, 42, 45])
EXPRESSIONS = ("mouth_open", "mouth_width", "eye_open", "brow_height")
SAME_PERSON = 0.6  # dlib's descriptor distance under which two faces are the same person
# The distortion ratio is taken only where the real face moved away from its own neutral frame by at least this
# residual (RMS per rigid point, in RMS radii of the rigid points): below it the ratio divides by landmark noise.
DISTORTION_FLOOR = 0.01


def face_size(landmarks: np.ndarray) -> np.ndarray:
    """Distance between the outer eye corners; (..., 68, 2) -> (...)."""
    return np.linalg.norm(landmarks[..., 45, :] - landmarks[..., 36, :], axis=-1)


def _distance(landmarks: np.ndarray, a: list[int], b: list[int]) -> np.ndarray:
    return np.linalg.norm(landmarks[..., a, :] - landmarks[..., b, :], axis=-1).mean(axis=-1)


def expressions(landmarks: np.ndarray) -> np.ndarray:
    """(..., 68, 2) -> (..., 4): mouth open (inner lip gap), mouth width (corner to corner), eye openness (lid
    to lid, both eyes) and brow height (brow points to their eye's centre, both sides), in face sizes."""
    size = face_size(landmarks)
    mouth_open = _distance(landmarks, [61, 62, 63], [67, 66, 65])
    mouth_width = _distance(landmarks, [48], [54])
    eye_open = _distance(landmarks, [37, 38, 43, 44], [41, 40, 47, 46])
    left_eye = landmarks[..., 36:42, :].mean(axis=-2, keepdims=True)
    right_eye = landmarks[..., 42:48, :].mean(axis=-2, keepdims=True)
    brow = np.concatenate([np.linalg.norm(landmarks[..., 17:22, :] - left_eye, axis=-1),
                           np.linalg.norm(landmarks[..., 22:27, :] - right_eye, axis=-1)], axis=-1).mean(axis=-1)
    return np.stack([mouth_open, mouth_width, eye_open, brow], axis=-1) / size[..., None]


# The iBUG points ``expressions`` reads, as mediapipe face-mesh landmarks: the eyes' corners and lids, the brows,
# the mouth's corners and the inner lips. Only those; the rest stay NaN.
_MESH_OF_IBUG = {36: 33, 37: 160, 38: 158, 39: 133, 40: 153, 41: 144, 42: 362, 43: 385, 44: 387, 45: 263, 46: 373,
                 47: 380, 17: 70, 18: 63, 19: 105, 20: 66, 21: 107, 22: 336, 23: 296, 24: 334, 25: 293, 26: 300,
                 48: 61, 54: 291, 60: 78, 61: 82, 62: 13, 63: 312, 64: 308, 65: 317, 66: 14, 67: 87}


def ibug_from_mesh(mesh: np.ndarray) -> np.ndarray:
    """(..., 478, 2+) face-mesh landmarks -> (..., 68, 2) with the points ``expressions`` reads, NaN elsewhere."""
    out = np.full(mesh.shape[:-2] + (68, 2), np.nan)
    ibug, points = zip(*_MESH_OF_IBUG.items())
    out[..., list(ibug), :] = mesh[..., list(points), :2]
    return out


def procrustes_residual(shape: np.ndarray, reference: np.ndarray) -> float:
    """What is left of ``shape`` (N, 2) after the best similarity transform (shift, rotation, scale; no mirror)
    onto ``reference``: the RMS distance per point in RMS radii of the points about their centre. 0 for a shape
    that only moved rigidly; a scale-free number, so faces of any size compare."""
    x = shape - shape.mean(axis=0)
    y = reference - reference.mean(axis=0)
    x = x / np.linalg.norm(x)
    y = y / np.linalg.norm(y)
    u, s, vt = np.linalg.svd(x.T @ y)
    if np.linalg.det(u @ vt) < 0:  # the best proper rotation gives up the smallest singular value
        s = s.copy()
        s[-1] = -s[-1]
    return float(np.sqrt(max(0.0, 1.0 - s.sum() ** 2)))


def rigid_residuals(landmarks: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per frame, the rigid points' Procrustes residual against the reference face; NaN where no face."""
    out = np.full(len(landmarks), np.nan)
    for i, frame in enumerate(landmarks):
        if not np.isnan(frame).any():
            out[i] = procrustes_residual(frame[RIGID], reference[RIGID])
    return out


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's correlation; NaN when either side does not vary (or fewer than 3 frames)."""
    if len(a) < 3 or np.std(a) < 1e-12 or np.std(b) < 1e-12:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def gain(driver: np.ndarray, output: np.ndarray) -> float:
    """The regression slope of the output on the driver (both in face sizes): 1 = the avatar's mouth opens by
    the same fraction of its face as the driver's did; NaN when the driver does not vary."""
    if len(driver) < 3 or np.var(driver) < 1e-12:
        return float("nan")
    return float(np.cov(driver, output, bias=True)[0, 1] / np.var(driver))


def stats(values: np.ndarray, digits: int = 3) -> dict:
    """mean, median, p90 and max of the finite values (None for each when there are none), and their count."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if not len(values):
        return {"mean": None, "median": None, "p90": None, "max": None, "frames": 0}
    return {"mean": _round(values.mean(), digits), "median": _round(np.median(values), digits),
            "p90": _round(np.percentile(values, 90), digits), "max": _round(values.max(), digits),
            "frames": int(len(values))}


def _round(value, digits: int = 3):
    value = float(value)
    return None if not np.isfinite(value) else round(value, digits)


def _found(rows: np.ndarray) -> np.ndarray:
    return ~np.isnan(rows.reshape(len(rows), -1)).any(axis=1)


def identity_scores(avatar: np.ndarray, output: np.ndarray, driver: np.ndarray | None = None,
                    rest: np.ndarray | None = None, neutral: int | None = None) -> dict:
    """Euclidean distances between descriptors: each output face against the avatar's own; for reference, the
    avatar at rest in the call picture against the avatar (what pasting alone costs) and each driver face
    against the driver's at its neutral frame (what a real face's own expressions and turns cost)."""
    distances = np.linalg.norm(output - avatar, axis=1)
    result = stats(distances)
    found = distances[np.isfinite(distances)]
    result["over_0.6"] = int((found >= SAME_PERSON).sum())
    if rest is not None:
        result["rest_vs_avatar"] = _round(np.linalg.norm(rest - avatar))
    if driver is not None:
        reference = _reference(driver, neutral)
        if reference is not None:
            own = stats(np.linalg.norm(driver - reference, axis=1))
            result["driver_vs_own_neutral"] = {"mean": own["mean"], "p90": own["p90"]}
    return result


def _reference(rows: np.ndarray, neutral: int | None) -> np.ndarray | None:
    """The driver's row at its neutral frame: ``neutral`` if the face model found it there, else the first found."""
    found = _found(rows)
    if neutral is not None and 0 <= neutral < len(rows) and found[neutral]:
        return rows[neutral]
    return rows[found][0] if found.any() else None


def distortion_scores(output: np.ndarray, rest: np.ndarray, driver: np.ndarray,
                      floor: float = DISTORTION_FLOOR, neutral: int | None = None) -> dict:
    """Shape distortion: the output's rigid-point residual against the avatar at rest, divided by the driver's
    against its own face at the neutral frame, on frames where both faces were found.

    ``ratio``: the per-frame ratio (median, p90) over the frames where the driver's residual is at least
    ``floor`` (the others would divide by landmark noise; ``frames_below_floor`` counts them);
    ``ratio_of_medians``: the median residual of the output over that of the driver, on all paired frames.
    1 = the avatar's face outline deforms as much as the real face's did.
    """
    reference = _reference(driver, neutral)
    out_res = rigid_residuals(output, rest)
    drv_res = rigid_residuals(driver, reference) if reference is not None else np.full(len(driver), np.nan)
    paired = np.isfinite(out_res) & np.isfinite(drv_res)
    usable = paired & (drv_res >= floor)
    ratios = out_res[usable] / drv_res[usable]
    ratio = stats(ratios)
    return {"ratio": {"median": ratio["median"], "p90": ratio["p90"], "frames": ratio["frames"]},
            "ratio_of_medians": (_round(np.median(out_res[paired]) / np.median(drv_res[paired]))
                                 if paired.any() and np.median(drv_res[paired]) > 0 else None),
            "output_residual": _brief(stats(out_res[paired], 4)),
            "driver_residual": _brief(stats(drv_res[paired], 4)),
            "frames_below_floor": int((paired & ~usable).sum()), "floor": floor}


def _brief(summary: dict) -> dict:
    return {"median": summary["median"], "p90": summary["p90"]}


def expression_scores(driver: np.ndarray, output: np.ndarray, driver_mesh: np.ndarray | None = None) -> dict:
    """Per expression (mouth open, mouth width, eye openness, brow height; each in face sizes of its own face),
    Pearson's correlation between driver and output over the frames where both faces were found, and the gain
    (regression slope of output on driver); ``overall``: the mean of the four correlations and of the gains.

    With ``driver_mesh`` (the driver's face-mesh landmarks as ``ibug_from_mesh`` gives them, NaN where none),
    also ``models_agree``: the correlation between the two face models' readings of the driver itself, on the
    same frames. No engine driven by the one can follow the other better than that: on a small face whose
    mouth barely moves it is low, and so is every engine's correlation there."""
    paired = _found(driver) & _found(output)
    drv, out = expressions(driver[paired]), expressions(output[paired])
    agree = None
    if driver_mesh is not None:
        both = paired & ~np.isnan(driver_mesh[:, [36, 45]]).any(axis=(1, 2))
        agree = (expressions(driver[both]), expressions(driver_mesh[both]))
    result = {}
    for k, name in enumerate(EXPRESSIONS):
        result[name] = {"correlation": _round(pearson(drv[:, k], out[:, k])),
                        "gain": _round(gain(drv[:, k], out[:, k]))}
        if agree is not None:
            result[name]["models_agree"] = _round(pearson(agree[0][:, k], agree[1][:, k]))
    correlations = [v["correlation"] for v in result.values() if v["correlation"] is not None]
    gains = [v["gain"] for v in result.values() if v["gain"] is not None]
    result["overall"] = {"correlation": _round(np.mean(correlations)) if correlations else None,
                         "gain": _round(np.mean(gains)) if gains else None}
    if agree is not None:
        agreements = [v["models_agree"] for v in result.values() if v.get("models_agree") is not None]
        result["overall"]["models_agree"] = _round(np.mean(agreements)) if agreements else None
    result["frames"] = int(paired.sum())
    return result


def _motion(landmarks: np.ndarray, order: int) -> np.ndarray:
    """Per frame, the mean magnitude of the rigid points' ``order``-th difference over consecutive frames (all
    with a face), in face sizes; NaN where a frame in the window has no face."""
    points = landmarks[:, RIGID]
    size = face_size(landmarks)
    diff = np.diff(points, n=order, axis=0)
    magnitude = np.linalg.norm(diff, axis=-1).mean(axis=-1)
    return magnitude / size[order:]


def jitter_scores(output: np.ndarray, driver: np.ndarray) -> dict:
    """Frame-to-frame motion of the rigid points, in face sizes per frame: ``speed`` (first difference: all
    motion) and ``shake`` (second difference: what is left after steady motion, i.e. jitter), of the output and
    of the real driver (whose own value includes the face model's landmark noise); ``shake_ratio`` output over
    driver: above 1, the avatar shakes more than the face that drives it."""
    result = {}
    for name, landmarks in (("output", output), ("driver", driver)):
        result[name] = {"speed": _round(np.nanmean(_motion(landmarks, 1)), 4) if _enough(landmarks, 2) else None,
                        "shake": _round(np.nanmean(_motion(landmarks, 2)), 4) if _enough(landmarks, 3) else None}
    shake_out, shake_drv = result["output"]["shake"], result["driver"]["shake"]
    result["shake_ratio"] = _round(shake_out / shake_drv) if shake_out is not None and shake_drv else None
    return result


def _enough(landmarks: np.ndarray, window: int) -> bool:
    found = _found(landmarks).astype(int)
    return len(found) >= window and (np.convolve(found, np.ones(window, int), "valid") == window).any()


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of True in ``mask``."""
    padded = np.concatenate([[False], np.asarray(mask, bool), [False]]).astype(int)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(s), int(e - s)) for s, e in zip(edges[::2], edges[1::2])]


def face_loss_scores(driver_found: np.ndarray, output_found: np.ndarray, rest_difference: np.ndarray,
                     fps: float) -> dict:
    """Where the face model found no face in the driver, and what the call picture showed there:
    ``rest_difference`` is each output frame's mean absolute difference to the call picture at rest (the
    avatar unanimated), in 8-bit levels. Each run of a second or more without a face is listed with the
    largest difference over its last second (the goal: within 3 levels of rest). Also counted: the output frames
    where no face was found at all, and those of them where the driver had one."""
    lost = ~np.asarray(driver_found, bool)
    output_lost = ~np.asarray(output_found, bool)
    second = max(1, int(round(fps)))
    episodes = [{"start": start, "frames": length,
                 "last_second_max": _round(rest_difference[start + length - second:start + length].max(), 2)}
                for start, length in runs(lost) if length >= second]
    there = stats(rest_difference[lost], 2)
    return {"driver_no_face": {"frames": int(lost.sum()),
                               "rest_difference_mean": there["mean"], "rest_difference_max": there["max"],
                               "runs_of_a_second_or_more": episodes},
            "output_no_face": {"frames": int(output_lost.sum()),
                               "while_driver_had_one": int((output_lost & ~lost).sum())}}


def quality_report(avatar_descriptor: np.ndarray, rest_landmarks: np.ndarray, rest_descriptor: np.ndarray | None,
                   driver_landmarks: np.ndarray, driver_descriptors: np.ndarray, output_landmarks: np.ndarray,
                   output_descriptors: np.ndarray, rest_difference: np.ndarray, fps: float,
                   neutral: int | None = None, driver_mesh: np.ndarray | None = None) -> dict:
    """Every metric of the benchmark from the per-frame measurements (NaN rows where no face was found);
    ``neutral``: the driving frame the animation's neutral pose was taken from (None: the first with a face);
    ``driver_mesh``: the engine's own face model's reading of the driver (``expression_scores``)."""
    return {"identity": identity_scores(avatar_descriptor, output_descriptors, driver_descriptors, rest_descriptor,
                                        neutral),
            "distortion": distortion_scores(output_landmarks, rest_landmarks, driver_landmarks, neutral=neutral),
            "expression": expression_scores(driver_landmarks, output_landmarks, driver_mesh),
            "jitter": jitter_scores(output_landmarks, driver_landmarks),
            **face_loss_scores(_found(driver_landmarks), _found(output_landmarks), rest_difference, fps)}
