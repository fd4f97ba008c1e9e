"""Gradio's upload route is open even though no widget takes a file: the app caps its size."""
from __future__ import annotations

import socket
import urllib.error
import urllib.request
import uuid

import pytest

from iacdemo.ui import build_app, launch_kwargs
from tests.ui_support import isolated_settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _upload(url: str, size: int) -> int:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.bin\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + b"x" * size + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture(scope="module")
def server(settings, tmp_path_factory):
    local = isolated_settings(settings, tmp_path_factory.mktemp("uploads"))
    demo = build_app(local)
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_kwargs(local))
    yield f"http://127.0.0.1:{port}", local
    demo.close()


def test_uploads_above_the_cap_are_refused(server):
    url, local = server
    assert launch_kwargs(local)["max_file_size"] == local.max_upload_bytes == 1024 * 1024
    assert _upload(f"{url}/gradio_api/upload", 1000) == 200  # a small file: the route itself works
    assert _upload(f"{url}/gradio_api/upload", 5 * 1024 * 1024) == 413
