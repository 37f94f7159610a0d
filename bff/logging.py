"""The request id of the current request, for log lines and error bodies; the filters and
the JSON formatter of the logs (config/settings.py LOGGING, LOG_FORMAT)."""

from __future__ import annotations

import contextvars
import logging
import logging.config
import re
import uuid
from datetime import UTC, date, datetime, time
from typing import Any

from django.db import DatabaseError
from pythonjsonlogger.json import JsonFormatter as LibraryJsonFormatter

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


def configure_json(config: dict[str, Any]) -> None:
    """LOGGING_CONFIG under LOG_FORMAT=json: Python's warnings go through logging too, so
    every line of the stream is JSON."""
    logging.config.dictConfig(config)
    logging.captureWarnings(True)


# Extra fields that would carry a credential if anyone ever passed one: never written.
SECRET_FIELDS = frozenset(
    {
        "access_token",
        "authorization",
        "client_secret",
        "code",
        "code_verifier",
        "cookie",
        "cookies",
        "id_token",
        "id_token_hint",
        "logout_token",
        "password",
        "refresh_token",
        "set-cookie",
        "token",
    }
)
REDACTED = "[redacted]"


def _json_default(value: Any) -> str:
    """A field JSON has no type for: a time or UUID as text, anything else as its type, never
    its text (a request's text carries its query string, where an authorization code goes)."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return f"<{type(value).__name__}>"


class JsonFormatter(LibraryJsonFormatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id,
    then the record's extra fields (exc_info as text).

    Django's `request` extra becomes its method and path, without the query; an extra field
    named like a credential (SECRET_FIELDS) is written as "[redacted]".
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", ["levelname", "name", "message", "request_id"])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("json_default", _json_default)
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__(*args, **kwargs)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat(
            timespec="milliseconds"
        )
        super().add_fields(log_data, record, message_dict)
        if log_data.get("request_id") is None:  # not through RequestIDFilter: gunicorn's own
            log_data["request_id"] = _access_request_id(record) or request_id_var.get()
        for name, value in log_data.items():
            if name.lower() in SECRET_FIELDS:
                log_data[name] = REDACTED
            elif name == "request":
                log_data[name] = _request_fields(value)


def _access_request_id(record: logging.LogRecord) -> str | None:
    """The X-Request-ID the response carried, on a gunicorn access log line."""
    if record.name == "gunicorn.access" and isinstance(record.args, dict):
        value = record.args.get("{x-request-id}o")
        return value if isinstance(value, str) and value != "-" else None
    return None


def _request_fields(request: Any) -> Any:
    method, path = getattr(request, "method", None), getattr(request, "path", None)
    if isinstance(method, str) and isinstance(path, str):
        return {"method": method, "path": path}
    return _json_default(request)
