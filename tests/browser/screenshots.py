"""Screenshots from the browser tests: every one goes to test-artifacts/, chosen ones to assets/.

Tests call `save(page, name, publish=True)` for the pictures worth showing in the README; that only
marks them, so a test run never touches tracked files. `python -m tests.browser.screenshots` then
copies the marked ones into assets/screenshots/ (shrunk to a palette PNG when over 300 KB).
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from iacdemo.settings import ASSETS_DIR, REPO_ROOT

ARTIFACTS = REPO_ROOT / "test-artifacts" / "screenshots"
PUBLISHED = ASSETS_DIR / "screenshots"
CHOSEN = ARTIFACTS / "chosen.txt"
MAX_BYTES = 300_000


def save(page, name: str, publish: bool = False) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    if publish:
        chosen = set(CHOSEN.read_text().split()) if CHOSEN.exists() else set()
        CHOSEN.write_text("\n".join(sorted(chosen | {name})) + "\n")
    return path


def shrink(path: Path, max_bytes: int = MAX_BYTES) -> None:
    """Re-save as an adaptive-palette PNG when too big: UI screenshots have few colours."""
    if path.stat().st_size <= max_bytes:
        return
    from PIL import Image

    with Image.open(path) as image:
        image.convert("RGB").quantize(colors=128).save(path, optimize=True)


def publish(names: list[str] | None = None) -> list[Path]:
    names = names or (CHOSEN.read_text().split() if CHOSEN.exists() else [])
    PUBLISHED.mkdir(parents=True, exist_ok=True)
    done = []
    for name in names:
        source = ARTIFACTS / f"{name}.png"
        if not source.exists():
            raise SystemExit(f"No screenshot {source}: run the browser tests first.")
        target = PUBLISHED / source.name
        shutil.copyfile(source, target)
        shrink(target)
        done.append(target)
    return done


if __name__ == "__main__":
    for path in publish(sys.argv[1:]):
        print(f"{path} ({path.stat().st_size // 1024} KB)")
