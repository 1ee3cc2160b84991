"""The report of an annual check: what ``kprgw annual check --json`` prints and a refused
submission keeps.

Its JSON is exactly ``{"sendable", "persons", "findings": [{"rule", "severity", "count",
"examples"}]}``. Examples are pePeIDs (for ``xsd``, ``file:line element (kind)``), never a
national id; ``detail`` (a sentence naming codes, numbers and dates) is for the human
report only and not part of the JSON.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from kpr_gateway.annual.rules import Severity


class RuleFinding(BaseModel):
    """What one rule found: how often, and a few examples."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str = Field(description="The rule id, e.g. ident-missing.")
    severity: Severity
    count: int = Field(ge=1, description="How many times the rule found something.")
    examples: list[str] = Field(
        description="At most a few pePeIDs (xsd: 'file:line element (kind)'); never a "
        "national id. Empty for rules about the whole file."
    )
    detail: str = Field(
        default="",
        exclude=True,
        description="For people: what exactly was found (codes, numbers, dates). Not in JSON.",
    )


class SubmissionReport(BaseModel):
    """The outcome of ``check_submission``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sendable: bool = Field(description="No finding of severity error.")
    persons: int = Field(ge=0, description="PERSON elements read from the IPLOS file.")
    findings: list[RuleFinding]
