"""Whose account is it: the network an account belongs to, and the account whose verification
counts for it.

A person is an account string that names its network and can never be taken for another
network's: a Matrix user id (``@alice:gent.be``), or ``discord:<snowflake>`` for a Discord
account (the Discord front end builds it with :func:`discord_account`). Rooms follow the same
rule: a Matrix room id starts with ``!``, a Discord channel or thread is
``discord:<snowflake>``. Only the city's Matrix homeserver can verify a person; a Discord
account counts as verified (or listed) only through the Matrix account it is linked to
(``!link``), and is "other" otherwise. This module is the one place that tells the networks
apart; the policy (``handlers/policy.py``) and the identity lookup of the bot ask here.
"""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum

from storage import Link, Store

DISCORD_PREFIX = "discord:"
#: What an erased person's ideas and moderation actions are attributed to (``!forget``): the
#: account of nobody, on no network, so there is nobody to tell.
FORGOTTEN = "(forgotten)"


class Network(StrEnum):
    MATRIX = "matrix"
    DISCORD = "discord"


def network_of(account: str) -> Network:
    """The network of an account (or room) string: ``discord:…`` is Discord, all else Matrix
    (whose ids start with ``@`` or ``!``, never with ``discord:``)."""
    return Network.DISCORD if account.startswith(DISCORD_PREFIX) else Network.MATRIX


def discord_account(snowflake: int) -> str:
    """The account string of a Discord user (or the room string of a channel or thread)."""
    if snowflake <= 0:
        raise ValueError("a Discord snowflake is a positive number")
    return f"{DISCORD_PREFIX}{snowflake}"


def is_forgotten(account: str) -> bool:
    """Whether ``account`` is what an erased person's ideas are attributed to."""
    return account == FORGOTTEN


def is_matrix(account: str) -> bool:
    return network_of(account) is Network.MATRIX


def can_link(account: str) -> bool:
    """Whether the account is of a network that links to a Matrix account to be verified."""
    return network_of(account) is Network.DISCORD


async def identity_account(store: Store, account: str) -> str | None:
    """The Matrix account whose verification and homeserver count for ``account``: a Matrix
    account's own, a linked Discord account's Matrix account, and none for a Discord account
    that is not linked. Read-only; may run outside a transaction."""
    return counted_account(account, None if is_matrix(account) else await store.links.of(account))


def counted_account(account: str, link: Link | None) -> str | None:
    """:func:`identity_account` for an account whose ``link`` was read already."""
    if is_matrix(account):
        return account
    return None if link is None else link.matrix_account


def person_key(secret: str, matrix_account: str) -> str:
    """What the votes, poll answers and reports of two linked accounts share when the Matrix
    account was not verified when they were linked (a verified one shares its identity hash
    instead): a keyed hash of the Matrix account, the same each time it is linked."""
    digest = hmac.new(secret.encode(), matrix_account.encode(), hashlib.sha256).hexdigest()
    return f"link:{digest}"
