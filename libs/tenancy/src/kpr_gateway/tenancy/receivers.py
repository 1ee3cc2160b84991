"""The KPR receiver per target environment (DESIGN.md section 3).

Folkehelseinstituttet is level 1 (HER-id 85217); the level-2 communication party
is KPR in production, "KPR Validering" for test submissions, and NHN's test
receiver for communication tests. A test submission never goes to production:
the environment is fixed per tenant and chosen explicitly.

A message may name its environment (``message_environment``): the tenant's own, or KPR
Validering for a test submission of the annual round (``kprgw annual submit --environment
validation``). Nothing may name production unless it is the tenant's own.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from kpr_gateway.messages.msghead import Organisation
from kpr_gateway.tenancy.errors import EnvironmentNotAllowedError
from kpr_gateway.tenancy.model import TargetEnvironment, Tenant

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

TEST_SUBMISSION_ENVIRONMENT: Final = TargetEnvironment.VALIDATION
"""The one environment a message may name besides its tenant's own: KPR Validering."""


def kpr_receiver(environment: TargetEnvironment) -> Organisation:
    """The two-level receiver organisation for a tenant's target environment."""
    return KPR_RECEIVERS[environment]


def kpr_receiver_her_id(environment: TargetEnvironment) -> str:
    """The HER-id messages to the environment are addressed to (the level-2 party)."""
    receiver = KPR_RECEIVERS[environment]
    return receiver.service.her_id if receiver.service is not None else receiver.her_id


def addressable_environments(tenant: Tenant) -> tuple[TargetEnvironment, ...]:
    """Where the tenant's messages may go: its own environment first, then KPR Validering."""
    return tuple(dict.fromkeys((tenant.environment, TEST_SUBMISSION_ENVIRONMENT)))


def message_environment(tenant: Tenant, named: str | None) -> TargetEnvironment:
    """The environment a message of the tenant goes to: the one it names, else the tenant's.

    Raises ``EnvironmentNotAllowedError`` for a name that is no environment, or one the
    tenant may not address (production for a tenant in validation, say).
    """
    if named is None:
        return tenant.environment
    try:
        environment = TargetEnvironment(named)
    except ValueError:
        raise EnvironmentNotAllowedError(
            f"tenant {tenant.id}: a message names no known environment"
        ) from None
    if environment not in addressable_environments(tenant):
        raise EnvironmentNotAllowedError(
            f"tenant {tenant.id}: a message names environment {environment.value}; the tenant "
            f"sends to {tenant.environment.value} (and to validation for a test submission)"
        )
    return environment
