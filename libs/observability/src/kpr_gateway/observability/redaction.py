"""Redaction of Norwegian national identity numbers (and D-numbers) from free text.

What counts as an id here is a *shape*, not a checked number: eleven ASCII digits that are
not part of a longer digit run, optionally written with a separator between the date part
(six digits) and the personal part (five digits): one to three spaces, tabs, dots, hyphens,
underscores or slashes (``250195-21713``, ``250195 21713``, ``250195_21713``), and the date
part itself may be written with single separators (``25.01.95 21713``). Check digits are
deliberately not verified: a mistyped id is still personal data.

Kept intact on purpose, because they are our ledger and trace handles: UUIDs and W3C trace
and span ids (32 and 16 hex characters standing alone), whose digit runs can look like an id
by chance. HER-ids and organisation numbers (at most nine digits) never match. A price paid
for keeping hex ids: an id glued to hex letters so that the whole token is exactly 16 or 32
hex characters long stays visible. Ids written with non-ASCII digits are not recognised.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from opentelemetry.util.types import AnyValue

REDACTED_ID = "[redacted-id]"

# Alternation order matters: at each position the kept shapes are tried first, so a UUID or
# trace id is consumed whole before the id pattern could match digits inside it. The leading
# lookahead lets the engine skip positions that start neither shape (most of any text).
_PATTERN = re.compile(
    r"(?=[0-9a-f])(?:"
    r"\b(?P<kept>"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # UUID
    r"|[0-9a-f]{32}"  # W3C trace id
    r"|[0-9a-f]{16}"  # W3C span id
    r")\b"
    r"|(?<![0-9])(?:"
    r"[0-9]{11}(?![0-9])"  # the id in one piece
    # Written apart (ddmmyy or dd.mm.yy, a gap, five digits). A hex letter after the five
    # digits makes them the start of a UUID or trace id behind a separator ("000000/1490
    # 9e29-..."), which stays.
    r"|[0-9]{6}[-./ _\t]{1,3}[0-9]{5}(?![0-9a-f])"
    r"|[0-9]{2}[-./ _][0-9]{2}[-./ _][0-9]{2}[-./ _\t]{0,3}[0-9]{5}(?![0-9a-f])"
    r"))",
    re.ASCII | re.IGNORECASE,
)
# Every id ends in five plain digits; text without them (most log lines) skips the full scan.
_CANDIDATE = re.compile(r"[0-9]{5}", re.ASCII)
_ID_INT_MIN = 10_000_000_000
_ID_INT_MAX = 99_999_999_999


def _replace(match: re.Match[str]) -> str:
    return match.group(0) if match.lastgroup == "kept" else REDACTED_ID


def redact(text: str) -> str:
    """Return ``text`` with everything shaped like a national id or D-number replaced."""
    if _CANDIDATE.search(text) is None:
        return text
    return _PATTERN.sub(_replace, text)


def redact_value(value: object) -> AnyValue:
    """Redact a structured value (span attribute, log extra): strings, bytes, containers.

    An int with exactly eleven digits is replaced by the marker string, since that is how an
    id stored as a number looks (ids starting with 0 lose a digit as ints and are not caught).
    Objects of other types become their redacted ``str()``.
    """
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return REDACTED_ID if _ID_INT_MIN <= abs(value) <= _ID_INT_MAX else value
    if isinstance(value, bytes):
        # latin-1 maps every byte to one code point and back, so unmatched bytes survive as-is.
        return redact(value.decode("latin-1")).encode("latin-1")
    if isinstance(value, Mapping):
        return {redact(str(key)): redact_value(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return tuple(redact_value(item) for item in value)
    return redact(value if isinstance(value, str) else str(value))
