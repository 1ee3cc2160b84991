"""What arrived, for a test to compare with the gateway's ledger (``GET /received``).

Kept only with fault control on (a test setting): per MsgId, how many times a message was
received (read: opened and its MsgHead understood, whatever the answer); per notification
(``notifikasjonGUID``), every distinct MsgId it arrived in, so that a notification sent in two
messages shows. Bounded by the test's load: ~100 bytes per notification.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from kpr_gateway.simulator.chain import GUID_BYTES, ChainLinks


class ReceivedLog:
    def __init__(self) -> None:
        self._messages: Counter[str] = Counter()
        self._first_message: dict[bytes, str] = {}
        self._also_in: dict[bytes, list[str]] = {}
        self._unread = 0

    def message(self, msg_id: str, links: ChainLinks | None) -> None:
        """A message read; ``links``: its notifications, when they could be read."""
        self._messages[msg_id] += 1
        if links is None:
            return
        for start in range(0, len(links.guids), GUID_BYTES):
            guid = links.guids[start : start + GUID_BYTES]
            first = self._first_message.setdefault(guid, msg_id)
            if first != msg_id:
                others = self._also_in.setdefault(guid, [])
                if msg_id not in others:
                    others.append(msg_id)

    def unread(self) -> None:
        """A message from a known sender whose MsgHead could not be read (no MsgId)."""
        self._unread += 1

    def summary(self) -> dict[str, Any]:
        repeated = {
            str(uuid.UUID(bytes=guid)): [self._first_message[guid], *others]
            for guid, others in self._also_in.items()
        }
        return {
            "messages": dict(self._messages),
            "unread": self._unread,
            "notifications": len(self._first_message),
            "repeated_notifications": repeated,
        }
