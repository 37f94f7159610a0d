"""WWW-Authenticate challenges (RFC 9110 11.6.1), parsed by the auth-param grammar.

    WWW-Authenticate = #challenge
    challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    auth-param       = token BWS "=" BWS ( token / quoted-string )

After a comma, `token =` continues the current challenge's parameters; any other token
starts the next challenge. An upstream's header is input we do not control: where it
leaves the grammar (an unterminated quote, a parameter named twice, a stray character)
parsing stops, and the challenge it broke is dropped (for broken text between challenges,
the one before it). Nothing here raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# A header longer than this is not read at all.
MAX_HEADER_LENGTH = 8192

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_QUOTED = re.compile(r'"((?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[\t\x20-\x7e\x80-\xff])*)"')
_TOKEN68 = re.compile(r"[A-Za-z0-9._~+/-]+=*")
# `name = value` ahead (a token68's "=" padding is followed by no value).
_PARAM_START = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+[ \t]*=[ \t]*[!#$%&'*+.^_`|~0-9A-Za-z\"-]")
_OWS = re.compile(r"[ \t]*")
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


class _Malformed(Exception):
    pass


# Broken text that belongs to no challenge of its own: it follows the last one.
ORPHAN = "orphan"


@dataclass
class Challenge:
    """One challenge: its scheme and parameter names in lower case, or a token68."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)
    token68: str | None = None


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def ows(self) -> int:
        start = self.at
        self.at = _OWS.match(self.text, self.at).end()
        return self.at - start

    def done(self) -> bool:
        return self.at >= len(self.text)

    def peek(self, char: str) -> bool:
        return self.text.startswith(char, self.at)

    def match(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        found = pattern.match(self.text, self.at)
        if found:
            self.at = found.end()
        return found

    def commas(self) -> bool:
        """Skip `OWS , OWS` repeated (empty list elements are allowed); any seen?"""
        seen = False
        while True:
            self.ows()
            if not self.peek(","):
                return seen
            self.at += 1
            seen = True

    def param(self) -> tuple[str, str]:
        name = self.match(_TOKEN)
        self.ows()
        if name is None or not self.peek("="):
            raise _Malformed
        self.at += 1
        self.ows()
        if quoted := self.match(_QUOTED):
            return name.group().lower(), _ESCAPED.sub(r"\1", quoted.group(1))
        if token := self.match(_TOKEN):
            return name.group().lower(), token.group()
        raise _Malformed


def _challenge(scanner: _Scanner) -> Challenge:
    scheme = scanner.match(_TOKEN)
    if scheme is None:
        raise _Malformed(ORPHAN)
    challenge = Challenge(scheme=scheme.group().lower())
    spaced = scanner.ows()
    if scanner.done():
        return challenge
    if scanner.peek(","):
        # The scheme alone, or its parameters after empty list elements ("Bearer , a=b").
        mark = scanner.at
        scanner.commas()
        if not _PARAM_START.match(scanner.text, scanner.at):
            scanner.at = mark
            return challenge
    elif not spaced:
        raise _Malformed
    elif not _PARAM_START.match(scanner.text, scanner.at):
        token68 = scanner.match(_TOKEN68)
        if token68 is None:
            raise _Malformed
        challenge.token68 = token68.group()
        return challenge
    while True:
        name, value = scanner.param()
        if name in challenge.params:
            raise _Malformed  # each parameter name only once per challenge (RFC 9110 11.2)
        challenge.params[name] = value
        mark = scanner.at
        if not scanner.commas() and not scanner.done():
            raise _Malformed
        if not _PARAM_START.match(scanner.text, scanner.at):
            scanner.at = mark
            return challenge


def parse_challenges(header: str | None) -> list[Challenge]:
    """The well-formed challenges of a WWW-Authenticate value (several headers joined by
    commas are one value), in order, up to where the value leaves the grammar."""
    if not header or len(header) > MAX_HEADER_LENGTH:
        return []
    scanner = _Scanner(header)
    challenges: list[Challenge] = []
    try:
        scanner.commas()
        while not scanner.done():
            challenges.append(_challenge(scanner))
            if not scanner.commas() and not scanner.done():
                raise _Malformed(ORPHAN)
    except _Malformed as exc:
        if ORPHAN in exc.args and challenges:
            challenges.pop()  # what broke may have been meant as its parameter
    return challenges


def bearer_error(header: str | None) -> Challenge | None:
    """The first well-formed Bearer challenge that names an `error` (RFC 6750 3), if any."""
    for challenge in parse_challenges(header):
        if challenge.scheme == "bearer" and "error" in challenge.params:
            return challenge
    return None
