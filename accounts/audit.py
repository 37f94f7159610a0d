"""Writing the audit log."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest

from accounts.models import AuditEvent
from bff.addresses import client_address

logger = logging.getLogger("accounts.audit")


def record(
    kind: str,
    request: HttpRequest | None = None,
    *,
    user: Any = None,
    provider: str = "",
    reason: str = "",
) -> AuditEvent:
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    event = AuditEvent.objects.create(
        kind=kind,
        user=user,
        provider=provider,
        reason=reason[:255],
        ip_address=(client_address(request) or None) if request else None,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:512] if request else "",
    )
    logger.info(
        "audit kind=%s user=%s provider=%s reason=%s", kind, event.user_id, provider, reason
    )
    return event
