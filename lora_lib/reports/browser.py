"""`screenshot`: a page rendered in headless Chromium (the Debian `chromium` package) to a PNG."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if path := shutil.which(name):
            return path
    return None


def screenshot(page: str | Path, png: str | Path, *, width: int = 1280, height: int = 900,
               chromium: str | None = None, timeout: float = 120) -> Path:
    """Render a local HTML page in headless Chromium and save a PNG; RuntimeError if that fails."""
    exe = chromium or find_chromium()
    if not exe:
        raise RuntimeError("no Chromium found: install it (Debian: apt-get install -y chromium)")
    page, png = Path(page).resolve(), Path(png).resolve()
    if not page.exists():
        raise FileNotFoundError(f"page not found: {page}")
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        # --no-sandbox: containers usually run as root, where Chromium's sandbox refuses to start.
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
               f"--user-data-dir={profile}", f"--window-size={width},{height}", f"--screenshot={png}",
               "--virtual-time-budget=5000", page.as_uri()]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                             env={**os.environ, "HOME": profile})
    if not png.exists() or png.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot (exit {res.returncode}): {res.stderr.strip()[-500:]}")
    return png
