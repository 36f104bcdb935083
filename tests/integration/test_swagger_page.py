"""The Swagger UI page of the local stack works offline, and renders in a real browser."""

from __future__ import annotations

import struct
import zlib

import pytest
from werkzeug.test import Client

from facematch_local.functions import InProcessFunctions
from facematch_local.gateway import SWAGGER_PATH, LocalGateway
from facematch_local.swagger_screenshot import MIN_PNG_BYTES, WINDOW, find_chromium, screenshot


def test_the_swagger_page_inlines_its_assets_and_the_document():
    page = Client(LocalGateway(InProcessFunctions(), rate_limits=False)).get(SWAGGER_PATH)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "SwaggerUIBundle" in html
    assert "<script src=" not in html and "<link rel='stylesheet'" not in html, "no CDN: it works offline"
    assert '"operationId": "enrollPhotos"' in html or '"operationId":"enrollPhotos"' in html


@pytest.mark.skipif(find_chromium() is None, reason="needs Chromium (apt-get install -y chromium)")
def test_swagger_ui_renders_in_headless_chromium(tmp_path, request):
    if request.config.getoption("disable_socket", default=False):
        pytest.skip("serves the page on a local port: make test runs it, not the socket-free fast loop")
    png = screenshot(tmp_path / "swagger.png")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == WINDOW
    # A rendered page of tags and operations, not a blank or "Loading..." one.
    assert len(data) > MIN_PNG_BYTES
    assert len(set(_rows(data, width, height))) > height // 10


def _rows(data: bytes, width: int, height: int) -> list[bytes]:
    """The PNG's scanlines (filter byte and pixels), enough to tell a rendered page from a blank one."""
    chunks, offset = [], 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"IDAT":
            chunks.append(data[offset + 8:offset + 8 + length])
        offset += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    stride = len(raw) // height
    return [raw[row * stride:(row + 1) * stride] for row in range(height)]
