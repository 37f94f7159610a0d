"""Marks on views that the gateway's middleware and error responses read."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

View = TypeVar("View", bound=Callable)


def json_api(view: View) -> View:
    """Errors about this view's request are JSON (the API), never a page or a redirect."""
    view.bff_json_api = True  # type: ignore[attr-defined]
    return view


def signs_in_or_out(view: View) -> View:
    """The view runs even when the session just ended or cannot be refreshed now: it signs
    in or out, so it needs no fresh token."""
    view.bff_signs_in_or_out = True  # type: ignore[attr-defined]
    return view


def marked(view: Callable | None, mark: str) -> bool:
    return bool(getattr(view, mark, False))
