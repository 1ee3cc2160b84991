"""Data-quality rules applied to every notification before anything leaves (DESIGN.md
section 6).

Each rule has an id, a severity and a reason in Norwegian and English (``catalogue``);
reasons name fields, codes and dates, never personal data. ``RuleSet.check`` runs them all
on a ``Notification`` and says whether it is sent, suppressed (a test person), rejected, or
kept as not reportable (a service type this release does not report).

The reference data and checks (municipality table, check digits, test persons) live in
``kpr_gateway.reference``, shared with the annual rules; their names are re-exported here.
"""

from kpr_gateway.reference import (
    MunicipalityPeriod,
    MunicipalityTable,
    is_synthetic,
    load_municipalities,
)
from kpr_gateway.transform.rules.catalogue import RULES, RULES_BY_ID
from kpr_gateway.transform.rules.errors import RulesConfigError
from kpr_gateway.transform.rules.findings import Finding, RuleInfo, Severity, Verdict
from kpr_gateway.transform.rules.ruleset import RuleSet, check_event, default_rules
from kpr_gateway.transform.rules.testperson_rules import KnownTestPersons

__all__ = [
    "RULES",
    "RULES_BY_ID",
    "Finding",
    "KnownTestPersons",
    "MunicipalityPeriod",
    "MunicipalityTable",
    "RuleInfo",
    "RuleSet",
    "RulesConfigError",
    "Severity",
    "Verdict",
    "check_event",
    "default_rules",
    "is_synthetic",
    "load_municipalities",
]
