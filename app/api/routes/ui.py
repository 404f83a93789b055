"""The one address: the sign-in page, and the Streamlit front end proxied under ``/ui/`` on the
API's own port (HTTP and its WebSocket), for signed-in users only.

Who may pass: a request carrying a valid posecloud session (the HttpOnly cookie that signing in
sets); anyone else is sent to the sign-in page with the address they wanted, and comes back to it.
Only Streamlit's script bundle (``/ui/static/``, public code) is served to anyone.
The WebSocket must also come from a page of this origin (a page elsewhere cannot drive the UI
with the user's cookie). Nothing is rewritten: Streamlit runs with ``/ui`` as its base path.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from typing import Annotated

import websockets
from fastapi import APIRouter, Form, HTTPException, Request, WebSocket
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import delete
from sqlalchemy.orm import Session
from starlette.websockets import WebSocketDisconnect

from app.api.deps import SESSION_COOKIE, PasswordsDep, SessionDep, SettingsDep, signin_url, user_of_token
from app.api.routes.auth import check_password, create_user, sign_in
from app.api.schemas import UserCreate
from app.icon import paw_png
from app.proxying import Refused, forward, request_path
from app.security import token_digest
from app.ui.server import PREFIX
from worker.state.db.models import AuthToken

router = APIRouter(include_in_schema=False)
DEFAULT_NEXT = PREFIX + "/"
DROPPED_REQUEST_HEADERS = {"host", "authorization"}
STREAM = PREFIX + "/_stcore/stream"
# Streamlit's own scripts and styles (the same open-source bundle for everyone, no data in it), which
# a page loads lazily as it draws widgets: served without a session, so that a page open when the
# session ends can still draw the message that sends the user to sign in again.
BUNDLE = PREFIX + "/static/"


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only (never ``//evil`` or ``https://...``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return DEFAULT_NEXT
    return target


def _page(next_url: str, message: str = "", username: str = "") -> str:
    error = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    return SIGN_IN_PAGE.format(
        error=error, next=html.escape(next_url, quote=True), username=html.escape(username, quote=True)
    )


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse(DEFAULT_NEXT, status_code=303)


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(paw_png(), media_type="image/png", headers={"Cache-Control": "public, max-age=86400"})


@router.get("/signin", response_class=HTMLResponse)
def signin_page(next: str | None = None, expired: bool = False) -> HTMLResponse:
    message = "Your session has ended; sign in again to continue where you were." if expired else ""
    return HTMLResponse(_page(safe_next(next), message))


@router.post("/signin", response_class=HTMLResponse)
def signin(
    session: SessionDep,
    passwords: PasswordsDep,
    settings: SettingsDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = DEFAULT_NEXT,
    action: Annotated[str, Form()] = "signin",
) -> Response:
    """Sign in (or register, then sign in) from the page's form; back to ``next`` on success."""
    target = safe_next(next)
    try:
        if action == "register":
            user = create_user(session, passwords, UserCreate(username=username, password=password))
        else:
            user = check_password(session, passwords, username, password)
    except ValidationError as e:
        problems = "; ".join(f"{err['loc'][0]}: {err['msg']}" for err in e.errors())
        return HTMLResponse(_page(target, f"Cannot register: {problems}.", username), status_code=422)
    except HTTPException as e:
        message = "Wrong username or password." if e.status_code == 401 else str(e.detail)
        return HTMLResponse(_page(target, message, username), status_code=e.status_code)
    response = RedirectResponse(target, status_code=303)
    sign_in(session, settings, user, response)
    return response


@router.api_route("/signout", methods=["GET", "POST"])
def signout(request: Request, session: SessionDep) -> RedirectResponse:
    """Sign out: the session's token stops working at once (not only the cookie is dropped)."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        session.execute(delete(AuthToken).where(AuthToken.token_hash == token_digest(token)))
        session.commit()
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _signed_in(request_cookies: dict[str, str], session: Session) -> bool:
    token = request_cookies.get(SESSION_COOKIE)
    return bool(token) and user_of_token(session, token) is not None


def _signed_in_ws(websocket: WebSocket) -> bool:
    with websocket.app.state.sessions() as session:
        return _signed_in(websocket.cookies, session)


def _to_signin(url: str) -> RedirectResponse:
    return RedirectResponse(signin_url(url), status_code=303)


@router.api_route(PREFIX, methods=["GET", "HEAD"])
@router.api_route(PREFIX + "/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"])
async def ui(request: Request, session: SessionDep) -> Response:
    """The Streamlit front end, for signed-in users (its script bundle for anyone: see BUNDLE)."""
    try:
        path = request_path(request.scope)
    except Refused as e:
        return JSONResponse({"detail": e.detail}, status_code=e.status)
    bundle = request.method in ("GET", "HEAD") and path.startswith(BUNDLE)
    if not bundle and not await run_in_threadpool(_signed_in, request.cookies, session):
        if request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", ""):
            wanted = path + (f"?{request.url.query}" if request.url.query else "")
            return _to_signin(wanted)
        return JSONResponse({"detail": "not signed in to posecloud: sign in at /signin"}, status_code=401)
    port = request.app.state.settings.ui_port
    if not port:
        return JSONResponse({"detail": "this service runs without its front end (POSECLOUD_UI_PORT=0)"}, 404)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in DROPPED_REQUEST_HEADERS}
    body = request.stream() if request.method in ("POST", "PUT") else None
    return await forward(
        f"http://127.0.0.1:{port}",
        request.method,
        path,
        list(request.query_params.multi_items()),
        headers,
        body,
        set(),
        lambda e: (
            f"the front end does not answer ({type(e).__name__}); it may be restarting: reload in a moment"
        ),
    )


@router.websocket(STREAM)
async def ui_stream(websocket: WebSocket) -> None:
    """Streamlit's WebSocket, relayed both ways; refused without a session or from another origin."""
    origin = websocket.headers.get("origin")
    own = f"{websocket.url.scheme.replace('ws', 'http')}://{websocket.headers.get('host')}"
    port = websocket.app.state.settings.ui_port
    signed_in = await run_in_threadpool(_signed_in_ws, websocket)
    if not port or not signed_in or (origin is not None and origin != own):
        await websocket.close(code=1008)  # policy violation
        return
    protocols = [
        p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",") if p.strip()
    ]
    upstream_url = f"ws://127.0.0.1:{port}{STREAM}"
    try:
        upstream = await websockets.connect(
            upstream_url,
            subprotocols=protocols or None,
            additional_headers={"Cookie": websocket.headers.get("cookie", "")},
            max_size=None,
            compression=None,
        )
    except (OSError, websockets.WebSocketException):
        await websocket.close(code=1013)  # try again later: the front end is restarting
        return
    await websocket.accept(subprotocol=upstream.subprotocol)
    await _relay(websocket, upstream)


async def _relay(browser: WebSocket, upstream) -> None:
    async def to_upstream() -> None:
        while True:
            message = await browser.receive()
            if message["type"] == "websocket.disconnect":
                return
            await upstream.send(message.get("bytes") or message.get("text") or b"")

    async def to_browser() -> None:
        async for message in upstream:
            if isinstance(message, bytes):
                await browser.send_bytes(message)
            else:
                await browser.send_text(message)

    tasks = [asyncio.create_task(to_upstream()), asyncio.create_task(to_browser())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except WebSocketDisconnect:
        pass
    finally:
        for task in tasks:
            task.cancel()
        await upstream.close()
        with contextlib.suppress(RuntimeError):  # already closed by the browser
            await browser.close()


SIGN_IN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · posecloud</title>
<link rel="icon" href="/favicon.ico">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; background: #f5f6f8; display: flex; justify-content: center;
       align-items: center; min-height: 100vh; margin: 0; color: #1f2430; }}
main {{ background: white; padding: 2rem 2.5rem; border-radius: 12px; box-shadow: 0 2px 12px #0002;
       width: 22rem; }}
h1 {{ margin: 0 0 .25rem; font-size: 1.6rem; }} p.lead {{ margin: 0 0 1.5rem; color: #5b6170; }}
label {{ display: block; margin: .8rem 0 .3rem; font-weight: 600; }}
input {{ width: 100%; box-sizing: border-box; padding: .55rem; border: 1px solid #c8ccd4; border-radius: 6px;
        font-size: 1rem; }}
.buttons {{ display: flex; gap: .6rem; margin-top: 1.4rem; }}
button {{ flex: 1; padding: .6rem; border-radius: 6px; border: 0; font-size: 1rem; cursor: pointer; }}
button.primary {{ background: #ff4b4b; color: white; }} button.secondary {{ background: #e8eaee; }}
.error {{ background: #fdecea; color: #8a1c12; padding: .6rem; border-radius: 6px; }}
</style></head>
<body><main>
<h1>posecloud</h1><p class="lead">Pose estimation for your lab's videos</p>
{error}
<form method="post" action="/signin">
<input type="hidden" name="next" value="{next}">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" required value="{username}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<div class="buttons">
<button class="primary" type="submit" name="action" value="signin">Sign in</button>
<button class="secondary" type="submit" name="action" value="register">Register</button>
</div>
</form>
</main></body></html>
"""
