#!/usr/bin/env bash
# Build the one-folder bundle dist/facade/ with PyInstaller, then check that it starts and runs its doctor.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet -r requirements-build.txt
python -m PyInstaller --noconfirm --clean --log-level WARN pyinstaller.spec
bundle=dist/facade/facade
"$bundle" --version
"$bundle" doctor --json > dist/doctor.json
python - <<'PY'
import json
checks = {c["name"]: c["status"] for c in json.load(open("dist/doctor.json"))["checks"]}
print("bundle doctor:", checks)
# The bundle must carry torch, the face models and ffmpeg; cameras and virtual cameras depend on the machine.
for name in ("torch", "face landmarks", "video encoder"):
    assert checks[name] == "ok", f"bundle check {name}: {checks[name]}"
PY
du -sh dist/facade
