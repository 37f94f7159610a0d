"""The request id of the current request, for log lines and error bodies."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

from django.db import DatabaseError

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_WELL_FORMED = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


def choose_request_id(incoming: str | None) -> str:
    """Keep the browser's X-Request-ID when well-formed, else make a new one."""
    if incoming and _WELL_FORMED.match(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIDFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class ExpectedOutageFilter(logging.Filter):
    """Drop Django's traceback for a request the database could not serve: that outage is
    logged once when it starts and once when it ends (bff.stores), and the client got 503."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DatabaseError)
