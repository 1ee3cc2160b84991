"""The annual IPLOS 3.7 submission: the checks FHI asks for before anything leaves.

``check_submission`` runs every rule of the annual check (``rules.RULES``) over a
municipality's IPLOS 3.7 file and its XPR(ide) identity file, streaming through both, and
returns a ``SubmissionReport``. ``synthetic`` writes consistent synthetic pairs of files for
tests, the demo and the benchmark.
"""

from kpr_gateway.annual.check import MAX_EXAMPLES, check_submission
from kpr_gateway.annual.errors import AnnualError, AnnualInputError
from kpr_gateway.annual.report import RuleFinding, SubmissionReport
from kpr_gateway.annual.rules import RULES, RULES_BY_ID, Rule, Severity

__all__ = [
    "MAX_EXAMPLES",
    "RULES",
    "RULES_BY_ID",
    "AnnualError",
    "AnnualInputError",
    "Rule",
    "RuleFinding",
    "Severity",
    "SubmissionReport",
    "check_submission",
]
