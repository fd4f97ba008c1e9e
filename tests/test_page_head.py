"""The early-script middleware: the page gets the script first in <head>; nothing else is touched."""
from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from iacdemo.ui.page_head import HeadScriptMiddleware, early_script_html

PAGE = "<!doctype html><html><head><script type=module src=./assets/index.js></script></head><body></body></html>"


def _client() -> TestClient:
    async def page(request):
        return HTMLResponse(PAGE)

    async def config(request):
        return JSONResponse({"head": "<head>"})

    async def streamed(request):
        async def parts():
            yield "<html><head>"
            yield "<title>t</title></head></html>"
        return StreamingResponse(parts(), media_type="text/html")

    async def missing(request):
        return HTMLResponse("<head>not found</head>", status_code=404)

    app = Starlette(routes=[Route("/", page), Route("/config", config), Route("/gone/", missing),
                            Route("/streamed/", streamed), Route("/other", page)])
    app.add_middleware(HeadScriptMiddleware, html="<script>first()</script>")
    return TestClient(app)


def test_the_page_gets_the_script_before_gradios_modules():
    response = _client().get("/")
    assert response.text.startswith("<!doctype html><html><head><script>first()</script><script type=module")
    assert int(response.headers["content-length"]) == len(response.content)
    streamed = _client().get("/streamed/")  # a page sent in parts is held whole, then changed
    assert streamed.text == "<html><head><script>first()</script><title>t</title></head></html>"


def test_other_responses_pass_through_unchanged():
    client = _client()
    assert client.get("/config").json() == {"head": "<head>"}
    assert client.get("/other").text == PAGE  # not the page's path
    assert client.get("/gone/").text == "<head>not found</head>"
    head = client.head("/")  # a HEAD has no body to change: its headers are the template's own
    assert head.text == "" and int(head.headers["content-length"]) == len(PAGE)


def test_the_early_script_is_the_frame_throttle():
    html = early_script_html()
    assert html.startswith("<script>") and html.endswith("</script>") and "</script>" not in html[:-9]
    assert "requestAnimationFrame" in html
