"""Items of one caller: the only place REST and GraphQL read or write them."""

from __future__ import annotations

import unicodedata

from demo.auth import Caller
from demo.models import NAME_MAX_LENGTH, Item


class InvalidItemName(ValueError):
    """The item name is not acceptable; the message says why and is safe to show."""


def clean_name(name: object) -> str:
    """The name stripped of surrounding space, or InvalidItemName."""
    if not isinstance(name, str):
        raise InvalidItemName("name must be a string")
    name = name.strip()
    if not name:
        raise InvalidItemName("name must not be empty")
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidItemName(f"name must be at most {NAME_MAX_LENGTH} characters")
    # Control characters (NUL above all, which PostgreSQL refuses) are never part of a name.
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise InvalidItemName("name must not contain control characters")
    return name


def list_items(caller: Caller) -> list[Item]:
    """The caller's items, oldest first."""
    return list(
        Item.objects.filter(owner_iss=caller.issuer, owner_sub=caller.subject).order_by(
            "created_at", "id"
        )
    )


def add_item(caller: Caller, name: object) -> Item:
    """Create an item for the caller from an untrusted name."""
    return Item.objects.create(
        owner_iss=caller.issuer, owner_sub=caller.subject, name=clean_name(name)
    )


def last_item_id(caller: Caller) -> int:
    """The id of the caller's newest item (0 for none): what live data starts after."""
    newest = _owned(caller).order_by("-id").values_list("id", flat=True).first()
    return newest or 0


def items_after(caller: Caller, last_id: int) -> list[Item]:
    """The caller's items added after the one with `last_id`, oldest first."""
    return list(_owned(caller).filter(id__gt=last_id).order_by("id"))


def _owned(caller: Caller):
    return Item.objects.filter(owner_iss=caller.issuer, owner_sub=caller.subject)
