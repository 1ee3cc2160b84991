"""Errors of the annual checks: only what stops a check from running at all.

What is wrong in the files is a finding in the report. Texts name files and lines, never
their content.
"""

from __future__ import annotations


class AnnualError(Exception):
    """Root of every error raised by kpr_gateway.annual."""


class AnnualInputError(AnnualError):
    """A file of the submission, or the tenant's test person list, cannot be read."""
