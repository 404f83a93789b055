"""Password hashing and token digests."""

from __future__ import annotations

from app.security import Passwords, new_token, token_digest


def test_default_cost_hash_verifies() -> None:
    passwords = Passwords(time_cost=3, memory_kib=64 * 1024)
    hashed = passwords.hash("correct horse")
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,")
    assert passwords.verify(hashed, "correct horse")
    assert not passwords.verify(hashed, "wrong horse")
    assert not passwords.verify("not a hash", "correct horse")


def test_tokens_are_random_and_digested() -> None:
    a, b = new_token(), new_token()
    assert a != b and len(a) == 43
    assert token_digest(a) == token_digest(a) and len(token_digest(a)) == 64 and token_digest(a) != a
