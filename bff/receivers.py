"""Signal receivers of the bff app (connected in BffConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from bff import metrics, record_cache
from bff.models import TokenSession
from bff.signals import EndedSession, session_ended, session_started


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="bff.forget_cached_records")
def forget_cached_records_of_saved_user(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A user's change (deactivated, new password) must reach their next request."""
    if record_cache.enabled():
        record_cache.forget(
            TokenSession.objects.live().filter(user=instance).values_list("browser_key", flat=True)
        )


@receiver(session_started, dispatch_uid="bff.metrics.sign_in")
def count_sign_in(sender: Any, record: TokenSession, **kwargs: Any) -> None:
    metrics.SIGN_INS.labels(record.provider).inc()


@receiver(session_ended, dispatch_uid="bff.metrics.sessions_ended")
def count_sessions_ended(
    sender: Any, sessions: list[EndedSession], reason: str, **kwargs: Any
) -> None:
    """Counted once the end commits: a back-channel logout that rolls back ended nothing."""
    providers = [session.provider for session in sessions]

    def count() -> None:
        for provider in providers:
            metrics.SESSIONS_ENDED.labels(provider, reason).inc()

    transaction.on_commit(count)
