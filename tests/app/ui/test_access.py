"""Who reaches the front end: only signed-in users, through the sign-in page; its WebSocket only
from this site's own pages; signing out ends the session at once."""

from __future__ import annotations

import asyncio
import re
import urllib.parse

import httpx
import pytest
import websockets

from app.client import UPLOAD_HEADER
from tests.app.ui.conftest import Stack
from tests.testdata import TOY_VIDEO


def _signed_in(stack: Stack, username: str) -> httpx.Client:
    """A browser-like client that registered on the sign-in page (it holds the session cookie)."""
    browser = httpx.Client(base_url=stack.url, timeout=60)
    resp = browser.post(
        "/signin", data={"username": username, "password": "a long password", "action": "register"}
    )
    assert resp.status_code == 303, resp.text
    return browser


def stack_index(stack: Stack) -> str:
    """The front end's HTML page, as a signed-in browser gets it."""
    return _signed_in(stack, "index").get("/ui/").text


def test_without_a_session_pages_go_to_sign_in_and_everything_else_is_401(stack: Stack) -> None:
    with httpx.Client(base_url=stack.url) as anonymous:
        page = anonymous.get("/ui/training?project=3", headers={"accept": "text/html"})
        assert page.status_code == 303
        assert page.headers["location"] == "/signin?next=" + urllib.parse.quote(
            "/ui/training?project=3", safe=""
        )
        for path in (
            "/ui/_stcore/health",
            "/ui/_stcore/host-config",
            "/ui/media/x.png",
            "/ui/static/../media/x",
        ):
            resp = anonymous.get(path)
            assert resp.status_code == 401, path
            assert "sign in" in resp.json()["detail"]
        assert anonymous.put("/ui/_stcore/upload_file/a/b", content=b"x").status_code == 401
        assert anonymous.put("/ui/static/x.js", content=b"x").status_code == 401
        # no way out of it: a path with '..' in any spelling is refused before anything reads it
        assert anonymous.get("/ui/static/%2e%2e/_stcore/host-config").status_code == 400
        # Streamlit's own script bundle alone is public (so a page whose session ended still draws)
        index = anonymous.get("/ui/", headers={"accept": "text/html"}, follow_redirects=False)
        assert index.status_code == 303
        script = re.search(r'src="\.?/?(static/js/[^"]+\.js)"', stack_index(stack)).group(1)
        bundle = anonymous.get(f"/ui/{script}")
        assert bundle.status_code == 200 and "javascript" in bundle.headers["content-type"]
        anonymous.cookies.set("posecloud_session", "not-a-token")
        assert anonymous.get("/ui/_stcore/health").status_code == 401
        assert anonymous.get("/").headers["location"] == "/ui/"


def test_the_sign_in_page_signs_in_registers_and_returns_where_the_user_was(stack: Stack) -> None:
    browser = _signed_in(stack, "grace")
    assert browser.get("/ui/_stcore/health").status_code == 200  # the proxy lets the session through
    with httpx.Client(base_url=stack.url) as other:
        wrong = other.post("/signin", data={"username": "grace", "password": "nope", "next": "/ui/models"})
        assert wrong.status_code == 401
        assert "Wrong username or password" in wrong.text
        assert 'value="/ui/models"' in wrong.text  # still knows where to go
        right = other.post(
            "/signin",
            data={"username": "grace", "password": "a long password", "next": "/ui/models?project=1"},
        )
        assert right.status_code == 303
        assert right.headers["location"] == "/ui/models?project=1"
        assert "httponly" in right.headers["set-cookie"].lower()
        for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
            resp = other.post(
                "/signin", data={"username": "grace", "password": "a long password", "next": evil}
            )
            assert resp.headers["location"] == "/ui/", evil
        taken = other.post(
            "/signin", data={"username": "grace", "password": "a long password", "action": "register"}
        )
        assert taken.status_code == 409
        assert "already taken" in taken.text
        short = other.post("/signin", data={"username": "al", "password": "short", "action": "register"})
        assert short.status_code == 422
        assert "username" in short.text and "password" in short.text


def test_signing_out_ends_the_session_at_once(stack: Stack) -> None:
    browser = _signed_in(stack, "heidi")
    token = browser.cookies["posecloud_session"]
    assert httpx.get(f"{stack.url}/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert browser.get("/signout").headers["location"] == "/signin"
    assert httpx.get(f"{stack.url}/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    again = httpx.Client(base_url=stack.url, cookies={"posecloud_session": token})
    assert again.get("/ui/_stcore/health").status_code == 401


async def _handshake(stack: Stack, cookie: str | None, origin: str | None) -> int | str:
    """The WebSocket's fate: "open", or the close code the proxy answered with."""
    url = stack.url.replace("http", "ws") + "/ui/_stcore/stream"
    headers = {"Cookie": f"posecloud_session={cookie}"} if cookie else {}
    try:
        async with websockets.connect(
            url, additional_headers=headers, origin=origin, subprotocols=["streamlit"]
        ) as ws:
            assert ws.subprotocol == "streamlit"
            return "open"
    except websockets.ConnectionClosed as e:
        return e.rcvd.code if e.rcvd else "closed"
    except websockets.InvalidStatus as e:
        return e.response.status_code


@pytest.mark.parametrize(
    ("who", "origin", "fate"),
    [
        ("nobody", None, 403),
        ("user", "http://evil.example", 403),
        ("user", "own", "open"),
    ],
)
def test_the_websocket_needs_a_session_and_this_sites_origin(
    stack: Stack, who: str, origin: str | None, fate
) -> None:
    cookie = (
        _signed_in(stack, f"ws{abs(hash((who, origin))) % 10_000}").cookies["posecloud_session"]
        if who == "user"
        else None
    )
    own = stack.url if origin == "own" else origin
    assert asyncio.run(_handshake(stack, cookie, own)) == fate


def test_the_browser_uploads_videos_with_its_cookie_only_with_the_upload_header(stack: Stack) -> None:
    """A forged cross-site form carries the cookie but cannot add the header: it is refused."""
    browser = _signed_in(stack, "ivan")
    project = browser.post(
        "/projects", json={"name": "up", "keypoints": ["nose"]}, headers={"Authorization": "Bearer x"}
    )
    assert project.status_code == 401  # the JSON API itself never takes the cookie
    token = browser.cookies["posecloud_session"]
    with httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {token}"}) as api:
        pid = api.post("/projects", json={"name": "up", "keypoints": ["nose"]}).json()["id"]
    clip = TOY_VIDEO.read_bytes()
    forged = browser.post(f"/projects/{pid}/videos", params={"filename": "a.mp4"}, content=clip)
    assert forged.status_code == 401
    uploaded = browser.post(
        f"/projects/{pid}/videos", params={"filename": "a.mp4"}, content=clip, headers={UPLOAD_HEADER: "1"}
    )
    assert uploaded.status_code == 201, uploaded.text
    played = browser.get(
        f"/projects/{pid}/videos/{uploaded.json()['id']}/file", headers={"Range": "bytes=0-99"}
    )
    assert played.status_code == 206
    assert played.content == clip[:100]
    stranger = _signed_in(stack, "judy")
    refused = stranger.post(
        f"/projects/{pid}/videos", params={"filename": "b.mp4"}, content=clip, headers={UPLOAD_HEADER: "1"}
    )
    assert refused.status_code == 404
