"""Swagger UI in a real browser, saved as docs/images/swagger.png.

    python -m facematch_local.swagger_screenshot [OUTPUT] [--fragment TAG/OPERATION_ID]

Serves the local gateway (the WSGI application ``make run`` serves) on a free port of 127.0.0.1,
and has headless Chromium (``chromium``, or FACEMATCH_CHROMIUM) load /api/swagger and save what
it shows: every tag with its description, and each operation's method, path and summary. The page
inlines Powertools' copy of Swagger UI, so no CDN is reached. No function runs and no AWS is
needed: the gateway answers /api/swagger itself, from the committed openapi.json.
``--fragment`` opens one operation (Swagger UI's deep link, e.g. enrollment/enrollPhotos).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from werkzeug.serving import make_server

from facematch_local.project import OPENAPI_FILE, ROOT

OUTPUT = ROOT / "docs" / "images" / "swagger.png"
WINDOW = (1280, 2400)
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# How long Chromium lets the page's scripts run (virtual time) before it takes the screenshot.
RENDER_BUDGET_MS = 15_000
# A screenshot that is mostly one colour (a blank page, "Loading...") compresses below this.
MIN_PNG_BYTES = 20_000


def find_chromium() -> str | None:
    """The browser to use: FACEMATCH_CHROMIUM, else the first of CHROMIUM_NAMES on PATH."""
    if os.environ.get("FACEMATCH_CHROMIUM"):
        return os.environ["FACEMATCH_CHROMIUM"]
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def screenshot(
    output: Path = OUTPUT,
    *,
    fragment: str = "",
    window: tuple[int, int] = WINDOW,
    chromium: str | None = None,
    timeout_s: float = 120,
) -> Path:
    """Save a PNG of the local gateway's Swagger UI page at ``output`` (folders created)."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise RuntimeError(f"No Chromium found ({', '.join(CHROMIUM_NAMES)}): apt-get install -y chromium")
    # The gateway serves the project's document, as make run does.
    os.environ.setdefault("FACEMATCH_OPENAPI_FILE", str(OPENAPI_FILE))
    from facematch_local.functions import InProcessFunctions
    from facematch_local.gateway import LocalGateway

    gateway = LocalGateway(InProcessFunctions(), rate_limits=False)
    server = make_server("127.0.0.1", 0, gateway, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    output.parent.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{server.server_port}/api/swagger" + (f"#/{fragment}" if fragment else "")
    try:
        with tempfile.TemporaryDirectory(prefix="facematch-chromium-") as profile:
            command = [
                chromium,
                "--headless",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--window-size={window[0]},{window[1]}",
                f"--virtual-time-budget={RENDER_BUDGET_MS}",
                f"--screenshot={output}",
                url,
            ]
            if hasattr(os, "geteuid") and os.geteuid() == 0:
                command.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    finally:
        server.shutdown()
        thread.join(timeout=5)
    if result.returncode != 0 or not output.exists():
        raise RuntimeError(f"Chromium failed ({result.returncode}): {result.stderr[-2000:]}")
    _shrink(output)
    return output


def _shrink(path: Path) -> None:
    """Quantize the PNG to a 256-colour palette (a page of text loses nothing visible), if Pillow
    is installed; it is (DeepFace needs it), but the screenshot does not depend on it."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", type=Path, default=OUTPUT)
    parser.add_argument("--fragment", default="", help="an operation to open: TAG/OPERATION_ID")
    args = parser.parse_args()
    path = screenshot(args.output, fragment=args.fragment)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
