"""Media in and out: still images, video files, square crops of frames."""
