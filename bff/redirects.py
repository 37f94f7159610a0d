"""Where a person may be sent after sign-in or sign-out: only same-origin relative paths."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

_FORBIDDEN_CHARS = set("\\\r\n\t\x00")


def safe_next(candidate: str | None, default: str = "/") -> str:
    """`candidate` when it is a plain same-origin path like /x?y, else `default`.

    Refuses absolute and scheme-relative URLs (//x, /\\x), backslashes, control
    characters, and encoded variants of those (checked again after percent-decoding).
    """
    if not candidate or not isinstance(candidate, str) or len(candidate) > 2048:
        return default
    for value in (candidate, unquote(candidate), unquote(unquote(candidate))):
        if not value.startswith("/") or value.startswith(("//", "/\\")):
            return default
        if any(ch in _FORBIDDEN_CHARS or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            return default
        parts = urlsplit(value)
        if parts.scheme or parts.netloc:
            return default
    return candidate
