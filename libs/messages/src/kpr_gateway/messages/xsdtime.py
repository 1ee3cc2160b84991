"""xs:dateTime as these messages use it: written as UTC with 'Z', read tolerantly."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, date, datetime, timedelta, timezone

_DATETIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})T(?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})"
    r"(?:\.(?P<frac>\d+))?(?P<tz>Z|[+-]\d{2}:\d{2})?"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PADDED_YEAR = 1000
_UTC_SECONDS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def format_utc(value: datetime) -> str:
    """``2025-01-31T12:00:00Z``, or ``...:00.25Z`` with a fraction; ``value`` must be aware."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware to be written as UTC")
    utc = value.astimezone(UTC)
    if not utc.microsecond and utc.year >= _PADDED_YEAR:
        # Whole seconds, the usual case (one per notification built): strftime costs a third
        # of the general way. Its %Y does not pad years below 1000.
        return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    text = utc.replace(tzinfo=None, microsecond=0).isoformat()
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_datetime(text: str) -> datetime:
    """Read an xs:dateTime; the result is naive when the text has no zone (as the XSD allows).

    Fractions beyond microseconds are truncated. Raises ``ValueError`` for anything else.
    """
    if _UTC_SECONDS.fullmatch(text):
        # What format_utc writes reads at C speed (the simulator reads two per notification).
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(text)
    match = _DATETIME.fullmatch(text.strip())
    if match is None:
        raise ValueError("not an xs:dateTime")
    frac = (match["frac"] or "")[:6].ljust(6, "0")
    naive = datetime.fromisoformat(f"{match['date']}T{match['h']}:{match['m']}:{match['s']}")
    naive = naive.replace(microsecond=int(frac))
    tz = match["tz"]
    if tz is None:
        return naive
    if tz == "Z":
        return naive.replace(tzinfo=UTC)
    sign = 1 if tz[0] == "+" else -1
    offset = timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
    return naive.replace(tzinfo=timezone(sign * offset))


def parse_datetime_or_date(text: str) -> datetime:
    """Like ``parse_datetime`` but also accepts a bare xs:date (midnight, naive)."""
    stripped = text.strip()
    if _DATE.fullmatch(stripped):
        day = date.fromisoformat(stripped)
        return datetime(day.year, day.month, day.day)  # xs:date has no zone
    return parse_datetime(stripped)
