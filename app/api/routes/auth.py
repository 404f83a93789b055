"""Accounts: register, log in (bearer token), who am I."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.api.deps import SESSION_COOKIE, PasswordsDep, SessionDep, SettingsDep, UserDep
from app.api.schemas import TokenOut, UserCreate, UserOut
from app.security import Passwords, new_token, token_digest
from app.settings import Settings
from worker.state.db.models import AuthToken, User, utcnow

router = APIRouter(prefix="/auth", tags=["auth"])


def _taken(username: str) -> HTTPException:
    return HTTPException(409, f"username {username!r} is already taken; choose another")


@router.post("/register", status_code=201, response_model=UserOut)
def register(body: UserCreate, session: SessionDep, passwords: PasswordsDep) -> User:
    """Create an account. Usernames are case-insensitive (stored lower-case)."""
    return create_user(session, passwords, body)


def create_user(session: Session, passwords: Passwords, body: UserCreate) -> User:
    username = body.username.lower()
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise _taken(username)
    user = User(username=username, password_hash=passwords.hash(body.password))
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise _taken(username) from None
    return user


@router.post("/login", response_model=TokenOut)
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    passwords: PasswordsDep,
    settings: SettingsDep,
    response: Response,
) -> TokenOut:
    """Exchange username and password (form fields) for a bearer token. The token also comes as an
    HttpOnly cookie for the pages the service serves to browsers (Label Studio, frames); the JSON
    API itself takes only the bearer header, so a cookie alone can change nothing there."""
    user = check_password(session, passwords, form.username, form.password)
    token, expires_at = sign_in(session, settings, user, response)
    return TokenOut(access_token=token, expires_at=expires_at)


def check_password(session: Session, passwords: Passwords, username: str, password: str) -> User:
    user = session.scalar(select(User).where(User.username == username.lower()))
    if user is None or not passwords.verify(user.password_hash, password):
        raise HTTPException(401, "wrong username or password; check both, or register at POST /auth/register")
    return user


def sign_in(session: Session, settings: Settings, user: User, response: Response) -> tuple[str, datetime]:
    """A new token for ``user``, also set as the HttpOnly session cookie on ``response``."""
    token = new_token()
    expires_at = utcnow() + timedelta(seconds=settings.token_lifetime_s)
    session.add(AuthToken(user_id=user.id, token_hash=token_digest(token), expires_at=expires_at))
    session.commit()
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.token_lifetime_s,
        httponly=True,
        samesite="lax",  # a cross-site POST (a forged form) carries no cookie
        path="/",
    )
    return token, expires_at


@router.get("/me", response_model=UserOut)
def me(user: UserDep) -> User:
    """The logged-in user."""
    return user
