"""A person-readable name for a browser from its user agent."""

from __future__ import annotations

from user_agents import parse


def describe(user_agent: str) -> str:
    if not user_agent:
        return "Unknown device"
    agent = parse(user_agent)
    browser = agent.browser.family or "Unknown browser"
    system = agent.os.family or "unknown system"
    kind = "phone" if agent.is_mobile else "tablet" if agent.is_tablet else "computer"
    if browser == "Other" and system == "Other":
        return user_agent[:60]
    return f"{browser} on {system} ({kind})"
