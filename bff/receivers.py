"""Signal receivers of the bff app (connected in BffConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from bff import record_cache
from bff.models import TokenSession


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="bff.forget_cached_records")
def forget_cached_records_of_saved_user(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A user's change (deactivated, new password) must reach their next request."""
    if record_cache.enabled():
        record_cache.forget(
            TokenSession.objects.live().filter(user=instance).values_list("pk", flat=True)
        )
