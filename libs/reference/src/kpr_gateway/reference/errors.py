"""The error of the reference data: a data table or a test person list that cannot be used."""

from __future__ import annotations


class ReferenceDataError(Exception):
    """A reference table or a tenant's test person list cannot be used.

    Its text names the file and line, never the content of a line (it may be a national id).
    """
