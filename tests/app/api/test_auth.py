"""Accounts and bearer tokens, against SQLite and PostgreSQL."""

from __future__ import annotations

import urllib.parse
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from worker.state.db.models import AuthToken, User, utcnow


def test_register_login_and_me(client: TestClient) -> None:
    resp = client.post("/auth/register", json={"username": "Alice", "password": "correct horse"})
    assert resp.status_code == 201
    assert resp.json()["username"] == "alice"
    login = client.post("/auth/login", data={"username": "ALICE", "password": "correct horse"})
    assert login.status_code == 200
    body = login.json()
    assert body["token_type"] == "bearer" and len(body["access_token"]) >= 40
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json() == {"id": resp.json()["id"], "username": "alice"}


def test_password_is_stored_as_argon2_hash(client: TestClient) -> None:
    client.post("/auth/register", json={"username": "bob", "password": "correct horse"})
    with client.app.state.sessions() as session:
        user = session.query(User).filter_by(username="bob").one()
    assert user.password_hash.startswith("$argon2id$") and "correct horse" not in user.password_hash


def test_wrong_password_and_unknown_user_get_401(client: TestClient, alice: dict[str, str]) -> None:
    for form in (
        {"username": "alice", "password": "wrong password"},
        {"username": "nobody", "password": "x"},
    ):
        resp = client.post("/auth/login", data=form)
        assert resp.status_code == 401
        assert resp.json()["detail"].startswith("wrong username or password")


def test_duplicate_username_is_409_case_insensitive(client: TestClient, alice: dict[str, str]) -> None:
    resp = client.post("/auth/register", json={"username": "ALICE", "password": "another password"})
    assert resp.status_code == 409
    assert resp.json() == {"detail": "username 'alice' is already taken; choose another"}


def test_invalid_registration_explains_fields(client: TestClient) -> None:
    resp = client.post("/auth/register", json={"username": "a/b", "password": "short"})
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert isinstance(detail, str)
    assert "body.username" in detail and "body.password" in detail and "at least 8 characters" in detail


def test_missing_bad_and_expired_tokens_get_401(client: TestClient, alice: dict[str, str]) -> None:
    assert client.get("/projects").json()["detail"].startswith("not logged in")
    bad = client.get("/projects", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and "invalid or has expired" in bad.json()["detail"]
    assert bad.headers["www-authenticate"] == "Bearer"
    assert client.get("/projects", headers=alice).status_code == 200
    with client.app.state.sessions() as session:
        session.execute(update(AuthToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    assert client.get("/projects", headers=alice).status_code == 401


@pytest.mark.parametrize(
    "path",
    ["/labelstudio/projects/1/data?tab=2", "/fiftyone/1/datasets/x", "/projects/1/frames/labeled-data/a.png"],
)
def test_a_page_opened_without_a_session_goes_to_sign_in_and_back(client: TestClient, path: str) -> None:
    page = client.get(path, headers={"Accept": "text/html,application/xhtml+xml"}, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/signin?next=" + urllib.parse.quote(path, safe="")
    # what a page's script asks for (no HTML wanted) gets the 401 it can act on
    assert client.get(path, follow_redirects=False).status_code == 401
