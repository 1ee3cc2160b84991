"""The error type of the IPLOS i KPR document module.

Its text never carries personal data: notifications are named by their GUID or position.
"""

from __future__ import annotations

from kpr_gateway.messages.errors import MessagesError


class KprDocumentError(MessagesError):
    """An IPLOS i KPR document could not be built, parsed or validated."""
