"""The error type of the identity file module.

Raised when the file cannot be read at all; what is wrong inside it is a finding, not an
error. Its text names the file, never its content (which is national ids).
"""

from __future__ import annotations

from kpr_gateway.messages.errors import MessagesError


class IdentFileError(MessagesError):
    """An XPR(ide) 53.1.3 identity file cannot be opened or read."""
