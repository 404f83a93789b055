"""A Label Studio user of their own for every posecloud user, made by the service (no password: the
user never sees or types one), and the short-lived access tokens the proxy signs their requests with.

Label Studio's REST API cannot read another user's token, so the user is made through its ORM
(``LabelStudioServer.shell``, once per user); the service then asks, as that user, for a personal
token (a JWT refresh token) and turns it into 5-minute access tokens, which Label Studio accepts as
``Authorization: Bearer`` on its pages and its API alike.
"""

from __future__ import annotations

import threading
import time

import httpx
from sqlalchemy.orm import Session

from app.labelstudio.server import LabelStudioServer
from core.errors import PoseCloudError
from worker.state.db.models import LabelStudioAccount, User

ACCESS_TOKEN_REUSE_S = 240  # Label Studio's access tokens last 5 minutes

_MAKE_USER = """
from organizations.models import Organization
from rest_framework.authtoken.models import Token
from users.models import User

organization = Organization.objects.order_by("id").first()
user, created = User.objects.get_or_create(email=EMAIL, defaults={"username": USERNAME})
if created:
    user.set_unusable_password()
    user.save()
if not organization.has_user(user):
    organization.add_user(user)
user.active_organization = organization
user.save()
token, _ = Token.objects.get_or_create(user=user)
# A personal token made before (posecloud's record of it lost) is revoked, so that a new one can be made.
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

for outstanding in OutstandingToken.objects.filter(user=user):
    BlacklistedToken.objects.get_or_create(token=outstanding)
result = {"id": user.id, "token": token.key}
"""


class LabelStudioDown(PoseCloudError):
    """Label Studio does not answer (stopped, restarting); nothing is lost, the sync catches up."""

    @classmethod
    def because(cls, error: Exception) -> LabelStudioDown:
        return cls(
            f"Label Studio does not answer ({type(error).__name__}); nothing is lost: the labels sync "
            "once it is back. Try again in a minute."
        )


def ls_email(user: User) -> str:
    return f"{user.username}@posecloud.local"


class Accounts:
    """Makes and remembers each posecloud user's Label Studio user; hands out access tokens."""

    def __init__(self, server: LabelStudioServer) -> None:
        self.server = server
        self._access: dict[int, tuple[str, float]] = {}  # posecloud user id -> (token, obtained at)
        self._lock = threading.Lock()

    def account(self, session: Session, user: User) -> LabelStudioAccount:
        """The user's Label Studio account, made on first use."""
        found = session.get(LabelStudioAccount, user.id)
        if found is not None:
            return found
        code = f"EMAIL = {ls_email(user)!r}\nUSERNAME = {user.username!r}\n{_MAKE_USER}"
        made = self.server.shell(code)
        personal = self._post(
            "/api/token/", headers={"Authorization": f"Token {made['token']}"}, expect=(201, 200)
        )["token"]
        account = LabelStudioAccount(
            user_id=user.id, ls_user_id=made["id"], legacy_token=made["token"], personal_token=personal
        )
        session.add(account)
        session.commit()
        return account

    def access_token(self, session: Session, user: User) -> str:
        """A valid access token of the user's Label Studio user (reused for 4 minutes)."""
        with self._lock:
            cached = self._access.get(user.id)
            if cached and time.monotonic() - cached[1] < ACCESS_TOKEN_REUSE_S:
                return cached[0]
        account = self.account(session, user)
        token = self._post("/api/token/refresh/", json={"refresh": account.personal_token})["access"]
        with self._lock:
            self._access[user.id] = (token, time.monotonic())
        return token

    def _post(self, path: str, *, expect: tuple[int, ...] = (200,), **kwargs) -> dict:
        try:
            resp = httpx.post(self.server.url + path, timeout=30, **kwargs)
        except httpx.TransportError as e:
            raise LabelStudioDown.because(e) from None
        if resp.status_code not in expect:
            raise PoseCloudError(f"Label Studio refused {path}: {resp.status_code} {resp.text[:300]}")
        return resp.json()
