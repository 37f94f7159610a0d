"""Attribute access to one app's settings with documented defaults (DRF-style).

Each app keeps its DEFAULTS in its own `conf.py`; the cache drops on Django's
`setting_changed` signal, so `override_settings` works in tests.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed


class AppSettings:
    def __init__(self, defaults: dict[str, Any]) -> None:
        self._defaults = defaults
        self._cache: dict[str, Any] = {}
        setting_changed.connect(self._on_setting_changed, weak=False)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._defaults:
            raise AttributeError(name)
        if name not in self._cache:
            self._cache[name] = getattr(settings, name, self._defaults[name])
        return self._cache[name]

    def reload(self) -> None:
        self._cache.clear()

    def _on_setting_changed(self, *, setting: str, **kwargs: Any) -> None:
        if setting in self._defaults:
            self.reload()
