"""The demo API's GraphQL schema (strawberry); resolvers act for `request.caller`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from asgiref.sync import sync_to_async
from django.conf import settings
from graphql import GraphQLError
from strawberry.extensions import MaskErrors, QueryDepthLimiter

from demo import items as item_store
from demo.auth import Caller
from demo.models import Item


def caller(info: strawberry.Info) -> Caller:
    """The verified caller; the view only runs the schema after bearer_required set it."""
    return info.context.request.caller


@strawberry.type
class Me:
    """Claims of the access token the request came with."""

    sub: str
    email: str | None
    name: str | None
    scope: str | None


@strawberry.type(name="Item")
class ItemType:
    """An item of the caller."""

    id: strawberry.ID
    name: str
    created_at: datetime | None

    @classmethod
    def from_model(cls, item: Item) -> ItemType:
        """The GraphQL view of a stored item."""
        return cls(id=strawberry.ID(str(item.id)), name=item.name, created_at=item.created_at)


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _scope(claims: dict[str, object]) -> str | None:
    # `scope` is a space-separated string (RFC 9068); some providers send a list, or `scp`.
    value = claims.get("scope", claims.get("scp"))
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return _optional_str(value)


@strawberry.type
class Query:
    """Read-only fields."""

    @strawberry.field(description="Who the access token says the caller is.")
    def me(self, info: strawberry.Info) -> Me:
        who = caller(info)
        return Me(
            sub=who.subject,
            email=_optional_str(who.claims.get("email")),
            name=_optional_str(who.claims.get("name")),
            scope=_scope(who.claims),
        )

    @strawberry.field(description="Something only a verified caller may read.")
    def show_private_stuff(self, info: strawberry.Info) -> str:
        return f"Private stuff for {caller(info).subject}: the cake is in the fridge."

    @strawberry.field(description="The caller's items, oldest first.")
    def items(self, info: strawberry.Info) -> list[ItemType]:
        return [ItemType.from_model(item) for item in item_store.list_items(caller(info))]


@strawberry.type
class Mutation:
    """Writes."""

    @strawberry.mutation(description="Add an item; the name is stripped, 1 to 200 characters.")
    def add_item(self, info: strawberry.Info, name: str) -> ItemType:
        return ItemType.from_model(item_store.add_item(caller(info), name))


async def added_items(
    who: Caller, *, quiet_every: int | None = None
) -> AsyncGenerator[Item | None, None]:
    """The caller's items as they are added (from now on), found by polling the table; with
    `quiet_every`, None after that many polls found nothing (a keep-alive's moment)."""
    last = await sync_to_async(item_store.last_item_id)(who)
    quiet = 0
    while True:
        await asyncio.sleep(settings.DEMO_LIVE_POLL_SECONDS)
        items = await sync_to_async(item_store.items_after)(who, last)
        for item in items:
            last = item.id
            yield item
        quiet = 0 if items else quiet + 1
        if quiet_every and quiet >= quiet_every:
            quiet = 0
            yield None


@strawberry.type
class Subscription:
    """Live data (graphql-transport-ws or graphql-ws, over a WebSocket)."""

    @strawberry.subscription(description="Each item of the caller as it is added.")
    async def item_added(self, info: strawberry.Info) -> AsyncGenerator[ItemType, None]:
        async for item in added_items(caller(info)):
            if item is not None:
                yield ItemType.from_model(item)


def _should_mask(error: GraphQLError) -> bool:
    # Validation messages are meant for the client; any other exception's text stays inside.
    original = error.original_error
    return original is not None and not isinstance(
        original, (GraphQLError, item_store.InvalidItemName)
    )


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[QueryDepthLimiter(max_depth=8), MaskErrors(should_mask_error=_should_mask)],
)
