"""Peak memory of decode_image for the largest photos it accepts, and for one it refuses.

    .venv/bin/python bench/decode_memory.py

Each image is generated in memory (gradients; the alpha channel a gradient too, so flattening has
work to do) and sent on stdin to a fresh child process, which decodes it with the default limits
(``Settings``) and reports how far its peak resident memory rose above its resident memory just
before the call: the kernel's high-water mark (VmHWM), reset first, since a child starts with its
parent's. Pillow allocates pixels outside Python's allocator, so tracemalloc would not see them.
Linux only (``/proc/self``). Prints a Markdown table.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import numpy as np
from PIL import Image

CASES = [  # name, mode, format, (width, height), EXIF orientation
    ("RGB JPEG, 40 MP", "RGB", "JPEG", (8000, 5000), 1),
    ("RGB JPEG, 40 MP, stored sideways (EXIF orientation 6)", "RGB", "JPEG", (8000, 5000), 6),
    ("RGB PNG, 40 MP", "RGB", "PNG", (8000, 5000), 1),
    ("RGBA PNG, 30 MP (the largest accepted)", "RGBA", "PNG", (6000, 5000), 1),
    ("RGBA PNG, 40 MP (over the decoded-bytes limit)", "RGBA", "PNG", (8000, 5000), 1),
]
MB = 1_000_000


def generate(mode: str, fmt: str, size: tuple[int, int], orientation: int) -> bytes:
    width, height = size
    x = (np.arange(width, dtype=np.uint32) * 255 // width).astype(np.uint8)[None, :]
    y = (np.arange(height, dtype=np.uint32) * 255 // height).astype(np.uint8)[:, None]
    bands = [np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)), x ^ y]
    if mode == "RGBA":
        bands.append(x // 2 + y // 2)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    params = {"quality": 90} if fmt == "JPEG" else {}
    Image.fromarray(np.dstack(bands), mode).save(buffer, fmt, exif=exif.tobytes(), **params)
    return buffer.getvalue()


def memory(field: str) -> int:
    """A line of /proc/self/status in bytes: VmRSS, resident now; VmHWM, the most resident."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) * 1024


def child() -> None:
    from facematch.config import Settings
    from facematch.errors import FaceMatchError
    from facematch.images import decode_image

    data = sys.stdin.buffer.read()
    settings = Settings()
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # the high-water mark starts again from what is resident now
    before = memory("VmRSS")
    start = time.perf_counter()
    try:
        pixels = decode_image(
            data,
            max_bytes=settings.max_upload_bytes,
            max_pixels=settings.max_image_pixels,
            max_decoded_bytes=settings.max_decoded_bytes,
        )
        outcome = f"{pixels.shape[1]}x{pixels.shape[0]} BGR"
    except FaceMatchError as error:
        outcome = error.code
    seconds = time.perf_counter() - start
    print(json.dumps({"outcome": outcome, "peak": memory("VmHWM") - before, "seconds": seconds}))


def main() -> None:
    print("| image | file | outcome | peak above baseline | time |")
    print("|---|---:|---|---:|---:|")
    for name, mode, fmt, size, orientation in CASES:
        data = generate(mode, fmt, size, orientation)
        answer = subprocess.run(
            [sys.executable, __file__, "--child"], input=data, capture_output=True, check=True
        )
        result = json.loads(answer.stdout)
        print(
            f"| {name} | {len(data) / MB:.1f} MB | {result['outcome']} "
            f"| {result['peak'] / MB:.0f} MB | {result['seconds']:.2f} s |"
        )


if __name__ == "__main__":
    child() if sys.argv[1:] == ["--child"] else main()
