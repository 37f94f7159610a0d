"""The demo API's one model: an item owned by the (issuer, subject) of a bearer token."""

from __future__ import annotations

from django.db import models

NAME_MAX_LENGTH = 200


class Item(models.Model):
    """A named thing that belongs to one caller."""

    # Owned by issuer + subject, not subject alone: two providers may issue the same sub.
    owner_iss = models.CharField(max_length=255)
    owner_sub = models.CharField(max_length=255)
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["owner_iss", "owner_sub", "created_at"], name="demo_item_owner"),
        ]

    def __str__(self) -> str:
        return self.name
