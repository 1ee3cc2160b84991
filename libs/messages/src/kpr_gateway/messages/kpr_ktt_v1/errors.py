"""The error type of the KPR KTT document module.

Its text never carries personal data: events are named by event id or position.
"""

from __future__ import annotations

from kpr_gateway.messages.errors import MessagesError


class KprDocumentError(MessagesError):
    """A KPR KTT document could not be built, parsed or validated."""
