"""The error type of the annual IPLOS file module.

Raised when the file cannot be read at all; what is wrong inside it is a finding, not an
error. Its text names the file, never its content.
"""

from __future__ import annotations

from kpr_gateway.messages.errors import MessagesError


class AnnualFileError(MessagesError):
    """An annual IPLOS 3.7 file cannot be opened or read."""
