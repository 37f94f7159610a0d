"""Attribute access to one app's settings with documented defaults (DRF-style).

Each app keeps its DEFAULTS in its own `conf.py`, the only place a default is written.
Dotted paths named in `import_strings` are imported when read. The cache drops on Django's
`setting_changed` signal, so `override_settings` works in tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string


class AppSettings:
    def __init__(self, defaults: dict[str, Any], import_strings: Iterable[str] = ()) -> None:
        self._defaults = defaults
        self._import_strings = frozenset(import_strings)
        self._cache: dict[str, Any] = {}
        setting_changed.connect(self._on_setting_changed, weak=False)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._defaults:
            raise AttributeError(name)
        if name not in self._cache:
            value = getattr(settings, name, self._defaults[name])
            if name in self._import_strings and isinstance(value, str):
                value = _imported(name, value)
            self._cache[name] = value
        return self._cache[name]

    def reload(self) -> None:
        self._cache.clear()

    def _on_setting_changed(self, *, setting: str, **kwargs: Any) -> None:
        if setting in self._defaults:
            self.reload()


def _imported(name: str, path: str) -> Any:
    try:
        return import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"{name}: cannot import {path!r} ({exc}).") from exc
