"""Named crash points: places inside a stage where a test can end the process at once.

A random kill -9 mostly lands between hand-offs; the windows that matter (a ledger step done,
the next hand-off not yet) are a few microseconds wide. A service started with
``KPRGW_CRASH_POINT=<name>`` ends, like kill -9, the ``KPRGW_CRASH_POINT_AFTER``-th time
(default 1) its code passes ``crash_point(<name>)``: ``os._exit(CRASH_EXIT_CODE)``, no
draining, no ``finally``, no flush of anything but the one line on stderr that names the point.

Armed only by ``arm_from_environment`` (the runtime calls it at start), and refused there in
production mode; an unknown name, or a point of another service, is refused too (a typo would
be a test that silently never crashes). Disarmed, ``crash_point`` is one comparison.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, get_args

from kpr_gateway.runtime.component import StartupError

_log = logging.getLogger(__name__)

POINT_VARIABLE: Final = "KPRGW_CRASH_POINT"
AFTER_VARIABLE: Final = "KPRGW_CRASH_POINT_AFTER"
CRASH_EXIT_CODE: Final = 86
"""The exit code of a crash point (kill -9 would be 137): a test tells the two apart."""

CrashPointName = Literal[
    # intake: the events are in the ledger, not yet published (the request is never answered)
    "intake.after_register",
    # intake: published and confirmed, not yet marked accepted (never answered either)
    "intake.after_publish",
    # transform: a message committed with its numbers, not yet published to messages
    "transform.after_commit",
    # transform: an operator's resend recorded (the new message built), not yet published
    "transform.after_resend_commit",
    # envelope: the message marked enveloped in the ledger, the sealed one not yet published
    "envelope.after_mark",
    # dispatch: the send attempt is in the ledger, nothing sent yet
    "dispatch.after_attempt",
    # dispatch: NHN's broker settled the send, dispatched not yet recorded
    "dispatch.after_send",
    # receipts: the AppRec's outcome is in the ledger, its notice not yet published
    "receipts.after_ledger",
    # receipts: outcome recorded and notice confirmed, the NHN message not yet settled
    "receipts.before_settle",
]
"""Every crash point; a call names one of these (mypy holds the call sites to the list)."""

KNOWN_POINTS: Final[frozenset[str]] = frozenset(get_args(CrashPointName))


class CrashPointError(StartupError):
    """The crash point settings are refused: production mode, an unknown name or count."""


@dataclass(slots=True)
class _Armed:
    name: str
    after: int
    passes: int = 0


_armed: _Armed | None = None


def crash_point(name: CrashPointName) -> None:
    """End the process here if this point is armed and this is its pass; else nothing."""
    armed = _armed
    if armed is None or armed.name != name:
        return
    armed.passes += 1
    if armed.passes < armed.after:
        return
    # Straight to the file descriptor: the logging handlers' buffers die with the process.
    os.write(2, f"crash point {name} reached (pass {armed.passes}); exiting\n".encode())
    os._exit(CRASH_EXIT_CODE)


def armed_point() -> str | None:
    """The point armed in this process, if any."""
    return _armed.name if _armed is not None else None


def arm_from_environment(
    service: str, *, production: bool, environ: Mapping[str, str] | None = None
) -> str | None:
    """Arm the point ``KPRGW_CRASH_POINT`` names, once, at start; returns its name (or None).

    Raises ``CrashPointError`` (the service stops at start with exit code 2) in production
    mode, for a name that is not a crash point or not one of ``service``'s, and for an
    ``KPRGW_CRASH_POINT_AFTER`` that is not a whole number from 1, or set alone.
    """
    global _armed  # noqa: PLW0603 - one per process, resolved once at start
    env = os.environ if environ is None else environ
    name = env.get(POINT_VARIABLE, "").strip()
    after_text = env.get(AFTER_VARIABLE, "").strip()
    _armed = None
    if not name:
        if after_text:
            raise CrashPointError(f"{AFTER_VARIABLE} is set, but {POINT_VARIABLE} is not")
        return None
    if production:
        raise CrashPointError(
            f"{POINT_VARIABLE} is set, and crash points are for tests: refused in production "
            "mode (unset it, or run with mode=development)"
        )
    if name not in KNOWN_POINTS:
        known = ", ".join(sorted(KNOWN_POINTS))
        raise CrashPointError(f"{POINT_VARIABLE}={name!r} is not a crash point; known: {known}")
    if name.partition(".")[0] != service:
        raise CrashPointError(f"{POINT_VARIABLE}={name!r} is not a point of {service}")
    after = _count(after_text) if after_text else 1
    _armed = _Armed(name, after)
    _log.warning("crash point %s armed: the process ends on pass %d", name, after)
    return name


def disarm() -> None:
    """No point armed (for tests that armed one in their own process)."""
    global _armed  # noqa: PLW0603 - see arm_from_environment
    _armed = None


def _count(text: str) -> int:
    try:
        after = int(text)
    except ValueError:
        after = 0
    if after < 1:
        raise CrashPointError(f"{AFTER_VARIABLE}={text!r} is not a whole number from 1")
    return after
