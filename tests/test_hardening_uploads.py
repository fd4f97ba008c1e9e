"""Gradio's upload route is open even though no widget takes a file: the app caps its size."""
from __future__ import annotations

import select
import socket
import urllib.parse
import uuid

import pytest

from iacdemo.ui import build_app, launch_kwargs
from tests.ui_support import free_port, isolated_settings


def _upload(url: str, size: int) -> int | None:
    """POST a multipart file of `size` bytes; the HTTP status, read even when the server answers (and
    closes) before the whole body is sent. A client that sends everything first, as urllib does, then
    fails on the reset the early close causes, and never sees the 413 that is already in its socket."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.bin\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + b"x" * size + f"\r\n--{boundary}--\r\n".encode()
    parts = urllib.parse.urlsplit(url)
    head = (f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: {len(body)}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        try:
            sock.sendall(head)
            for start in range(0, len(body), 64 * 1024):
                if select.select([sock], [], [], 0)[0]:
                    break  # the server has answered: stop sending, read it
                sock.sendall(body[start:start + 64 * 1024])
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed early: its answer is queued in the socket before the reset
        reply = b""
        try:
            while b"\r\n" not in reply:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
        except ConnectionResetError:
            pass
    status = reply.split(b"\r\n", 1)[0].split()
    return int(status[1]) if len(status) > 1 and status[1].isdigit() else None


@pytest.fixture(scope="module")
def server(settings, tmp_path_factory):
    local = isolated_settings(settings, tmp_path_factory.mktemp("uploads"))
    demo = build_app(local)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_kwargs(local))
    yield f"http://127.0.0.1:{port}", local
    demo.close()


def test_uploads_above_the_cap_are_refused(server):
    url, local = server
    assert launch_kwargs(local)["max_file_size"] == local.max_upload_bytes == 1024 * 1024
    assert _upload(f"{url}/gradio_api/upload", 1000) == 200  # a small file: the route itself works
    assert _upload(f"{url}/gradio_api/upload", 5 * 1024 * 1024) == 413
