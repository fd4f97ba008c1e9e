"""A script at the very top of the page's <head>, where gradio's `head=` option cannot put it.

gradio inserts `launch(head=...)` from its own JavaScript once the page has fetched its config; by then
its status-tracker module has already kept a reference to `window.requestAnimationFrame`, so a script
that throttles that function (assets/timer_frames.js) must run before any of gradio's modules. This ASGI
middleware adds it to the HTML gradio serves for the page itself, and to nothing else.
"""
from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from iacdemo.settings import ASSETS_DIR

EARLY_SCRIPTS = ("timer_frames.js",)


def early_script_html() -> str:
    """The assets that must run before gradio's modules, as inline <script> elements."""
    return "".join(f"<script>\n{(ASSETS_DIR / name).read_text(encoding='utf-8')}</script>" for name in EARLY_SCRIPTS)


class HeadScriptMiddleware:
    """Insert `html` right after `<head>` in the app page (a GET of a path ending in `/`).

    The page is a small rendered template, sent whole, so it is buffered; a response that is not plain
    HTML (compressed, an error, an API's JSON) passes through byte for byte."""

    def __init__(self, app: ASGIApp, html: str) -> None:
        self.app = app
        self.html = html.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not scope["path"].endswith("/"):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                if not self._is_page(MutableHeaders(raw=message["headers"]), message["status"]):
                    await send(message)
                    start = None  # pass the rest through
                return
            if start is None:
                await send(message)
                return
            if message["type"] != "http.response.body":  # not a body we can hold (a file sent by path): as is
                await send(start)
                for chunk in chunks:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                start = None
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            if b"<head>" in body:
                body = body.replace(b"<head>", b"<head>" + self.html, 1)
            headers = MutableHeaders(raw=start["headers"])
            if "content-length" in headers:
                headers["content-length"] = str(len(body))
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewrite)

    @staticmethod
    def _is_page(headers: MutableHeaders, status: int) -> bool:
        return (status == 200 and headers.get("content-type", "").startswith("text/html")
                and "content-encoding" not in headers)


def early_scripts_middleware() -> Middleware:
    """For `launch(app_kwargs={"middleware": [...]})`: FastAPI builds it into gradio's app."""
    return Middleware(HeadScriptMiddleware, html=early_script_html())
