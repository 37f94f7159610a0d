"""manage.py gateway_routes: each upstream, its rate limits and its route rules, as a table."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from bff.upstreams import ALL_METHODS, Upstream, upstreams

HEADINGS = ("#", "methods", "path", "requires")


class Command(BaseCommand):
    help = (
        "List the configured upstreams with their rate limits and route rules "
        "(BFF_UPSTREAMS, BFF_ROUTE_RULES, BFF_RATE_LIMITS; docs/gateway.md)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            registry = upstreams()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        if not registry:
            self.stdout.write("No upstreams are configured (BFF_UPSTREAMS).")
            return
        self.stdout.write("\n\n".join(describe(registry[name]) for name in sorted(registry)))


def describe(upstream: Upstream) -> str:
    """One upstream as a few lines of text and its rules as a table."""
    methods = "any" if upstream.methods == ALL_METHODS else ", ".join(upstream.methods)
    lines = [
        f"{upstream.name}  {upstream.url}",
        f"  token: {upstream.token}   methods: {methods}",
        f"  rate limits: {upstream.policy.limits}",
    ]
    if not upstream.policy.rules:
        lines.append("  rules: none, every path is open")
        return "\n".join(lines)
    rows = [HEADINGS] + [
        (
            str(number),
            ", ".join(sorted(rule.methods)) or "any",
            rule.path,
            rule.describe(),
        )
        for number, rule in enumerate(upstream.policy.rules, start=1)
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(HEADINGS))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        lines.append(("  " + "  ".join(cells)).rstrip())
    return "\n".join(lines)
