"""The KPR receiver per target environment (DESIGN.md section 3).

Folkehelseinstituttet is level 1 (HER-id 85217); the level-2 communication party
is KPR in production, "KPR Validering" for test submissions, and NHN's test
receiver for communication tests. A test submission never goes to production:
the environment is fixed per tenant and chosen explicitly.
"""

from __future__ import annotations

from types import MappingProxyType

from kpr_gateway.messages.msghead import Organisation
from kpr_gateway.tenancy.model import TargetEnvironment

FHI_HER_ID = "85217"
FHI_NAME = "Folkehelseinstituttet"

KPR_RECEIVERS: MappingProxyType[TargetEnvironment, Organisation] = MappingProxyType(
    {
        TargetEnvironment.PRODUCTION: Organisation(
            name=FHI_NAME, her_id=FHI_HER_ID, service=Organisation(name="KPR", her_id="122612")
        ),
        TargetEnvironment.VALIDATION: Organisation(
            name=FHI_NAME,
            her_id=FHI_HER_ID,
            service=Organisation(name="KPR Validering", her_id="171479"),
        ),
        TargetEnvironment.COMMUNICATION_TEST: Organisation(
            name=FHI_NAME,
            her_id=FHI_HER_ID,
            service=Organisation(name="NHN kommunikasjonstest", her_id="8133973"),
        ),
    }
)


def kpr_receiver(environment: TargetEnvironment) -> Organisation:
    """The two-level receiver organisation for a tenant's target environment."""
    return KPR_RECEIVERS[environment]
