"""A user's own clips cropped the way VoxCeleb was (the face aligned and framed, at the model's size), in the
training layout: ``DIR/train/<clip>/000000.png ...`` and every fifth clip in ``DIR/test/``."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from core.errors import UserError
from core.media.video_io import PngFolderWriter, check_output_tree, open_clip
from core.tools.animate import aligned_faces


def prepare_data(videos: list[Path], out: Path, size: int = 256, progress: bool = True) -> dict:
    """Crop each clip's face (the crop locked on its first face, as the live alignment does); frames with no
    face are left out. Returns how many frames each split received."""
    clips = [open_clip(video) for video in videos]  # every input checked before any work
    check_output_tree(out)  # and the output: a file or a read-only folder would fail after the first clip
    written = {"train": 0, "test": 0}
    names = _distinct_names([clip.path for clip in clips])
    for number, clip in enumerate(tqdm(clips, unit="clip", desc="prepare", disable=None if progress else True)):
        split = "test" if len(clips) > 1 and number % 5 == 4 else "train"
        folder = out / split / names[number]
        folder.parent.mkdir(parents=True, exist_ok=True)
        writer = PngFolderWriter(folder)
        try:
            for face in aligned_faces(clip.frames(), size, clip.fps):
                if face is not None:
                    writer.write(face.image)
        except BaseException:
            writer.abort()
            raise
        if not writer.frames_written:
            writer.abort()
            raise UserError(f"{clip.path}: no face found in any frame")
        writer.close()
        written[split] += writer.frames_written
    return written


def _distinct_names(paths: list[Path]) -> list[str]:
    """A folder name per clip: its own name, numbered (``clip-2``) when an earlier clip of this run has it
    (``a/clip.mp4``, ``c/clip.mp4``), so that no clip's frames replace another's."""
    taken: set[str] = set()
    names = []
    for path in paths:
        name, n = path.stem, 1
        while name in taken:
            n += 1
            name = f"{path.stem}-{n}"
        taken.add(name)
        names.append(name)
    return names
