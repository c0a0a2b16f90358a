"""Console logins on the real store: argon2 hashes, lockout, sessions that only the token opens."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from bot.errors import InputError
from bot.store.sql_store import SqlStore
from handoff.console.accounts import Accounts, LockedError, LoginError

FAST = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)  # tests only


async def test_a_good_password_opens_a_session_and_logout_closes_it(store: SqlStore) -> None:
    accounts = Accounts(store, hasher=FAST)
    await store.agents.add("amy", "Amy", role="supervisor")
    await accounts.set_password("amy", "correct horse battery")
    login = await accounts.login("amy", "correct horse battery")
    assert login.agent.username == "amy" and login.agent.role == "supervisor"
    found = await accounts.session(login.token)
    assert found is not None and found[0].username == "amy" and found[1] == login.csrf
    assert await accounts.session(login.token + "x") is None
    await accounts.logout(login.token)
    assert await accounts.session(login.token) is None


async def test_the_hash_is_argon2_and_never_the_password(store: SqlStore) -> None:
    from sqlalchemy import text

    accounts = Accounts(store, hasher=FAST)
    await store.agents.add("kim", "Kim")
    await accounts.set_password("kim", "a long enough secret")
    stored = await store.db.run(
        lambda s: s.execute(text("SELECT password_hash FROM agents WHERE username='kim'")).scalar()
    )
    assert stored.startswith("$argon2id$") and "a long enough secret" not in stored


async def test_wrong_password_and_unknown_user_get_the_same_answer(store: SqlStore) -> None:
    accounts = Accounts(store, hasher=FAST)
    await store.agents.add("bob", "Bob")
    await accounts.set_password("bob", "bobs password 1")
    with pytest.raises(LoginError, match="wrong username or password"):
        await accounts.login("bob", "nope nope nope")
    with pytest.raises(LoginError, match="wrong username or password"):
        await accounts.login("nobody", "bobs password 1")
    with pytest.raises(LoginError):  # an agent without a password cannot log in
        await store.agents.add("np", "No Password")
        await accounts.login("np", "")


async def test_five_failures_lock_the_account_even_for_the_right_password(store: SqlStore) -> None:
    accounts = Accounts(store, hasher=FAST, max_failures=5, lockout_minutes=15)
    await store.agents.add("eve", "Eve")
    await accounts.set_password("eve", "the real password")
    for _ in range(4):
        with pytest.raises(LoginError):
            await accounts.login("eve", "guess guess")
    # A good login before the fifth failure resets the count.
    await accounts.login("eve", "the real password")
    for _ in range(5):
        with pytest.raises(LoginError):
            await accounts.login("eve", "guess guess")
    with pytest.raises(LockedError, match="too many failed logins"):
        await accounts.login("eve", "the real password")


async def test_setting_a_password_checks_its_length_and_ends_other_sessions(
    store: SqlStore,
) -> None:
    accounts = Accounts(store, hasher=FAST)
    await store.agents.add("lee", "Lee")
    with pytest.raises(InputError, match="10 to 200 characters"):
        await accounts.set_password("lee", "short")
    await accounts.set_password("lee", "first password")
    login = await accounts.login("lee", "first password")
    await accounts.set_password("lee", "second password")
    assert await accounts.session(login.token) is None
