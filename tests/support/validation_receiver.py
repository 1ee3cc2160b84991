"""Messages that name their receiver's environment: a tenant in production, the two messages
of its test submission to KPR Validering, and an Address Registry in which KPR Validering has
certificates (and a queue) of its own, so a test can tell which receiver a message was sealed
for, sent to, or answered by.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any, Final

from lxml import etree

from kpr_gateway.ledger import AnnualMessage, Ledger, MessageState, NewAnnualSubmission
from kpr_gateway.messages.msghead import MsgHead, build_msghead
from kpr_gateway.pipeline.contracts import BuiltMessage, ReceiverEnvironment
from kpr_gateway.security.devpki import DevPki
from kpr_gateway.simulator import ReceiverCredentials
from kpr_gateway.simulator.registry import SimulatedRegistry, receiver_parties
from kpr_gateway.tenancy import TargetEnvironment, Tenant, kpr_receiver

KPR_HER_ID: Final = "122612"
KPR_VALIDERING_HER_ID: Final = "171479"
REGISTRY_PREFIX: Final = "registry-"
"""The registry's queues carry it, so a test can tell them from an override's defaults."""
REPORT: Final = {"sendable": True, "persons": 40, "findings": []}
_STEPS_TO: Final = {
    MessageState.BUILT: (),
    MessageState.ENVELOPED: (MessageState.ENVELOPED,),
    MessageState.DISPATCHED: (MessageState.ENVELOPED, MessageState.DISPATCHED),
}


def in_production(entry: dict[str, Any]) -> dict[str, Any]:
    """A tenants-file entry, its tenant now sending to KPR in production."""
    return {**entry, "environment": "production"}


def registry_with_validation_apart(
    pki: DevPki, *, kpr: str = "kpr", validation: str = "kpr-next"
) -> SimulatedRegistry:
    """FHI with ``kpr``'s certificates for its KPR receivers, except KPR Validering, which has
    ``validation``'s; every queue named with ``REGISTRY_PREFIX``."""
    keys = pki.party(kpr)
    own = pki.party(validation)
    parties = []
    for listed in receiver_parties(
        ReceiverCredentials(signing=keys.signing, decryption=(keys.encryption,))
    ):
        party = dataclasses.replace(
            listed,
            async_queue=listed.async_queue and f"{REGISTRY_PREFIX}{listed.async_queue}",
            error_queue=listed.error_queue and f"{REGISTRY_PREFIX}{listed.error_queue}",
        )
        if party.her_id == KPR_VALIDERING_HER_ID:
            party = dataclasses.replace(
                party,
                signing_certificate=own.signing.certificate,
                encryption_certificate=own.encryption.certificate,
            )
        parties.append(party)
    return SimulatedRegistry(parties)


def annual_msghead(tenant: Tenant, msg_id: str, msg_type: str, environment: str) -> bytes:
    """A MsgHead addressed to ``environment``'s receiver, with a stand-in document."""
    now = datetime.now(UTC)
    return build_msghead(
        MsgHead(
            msg_type=msg_type,
            msg_type_text="IPLOS 3.7, årlig rapportering (test)",
            msg_id=msg_id,
            gen_date=now,
            sender=tenant.sender_organisation(),
            receiver=kpr_receiver(TargetEnvironment(environment)),
            issue_date=now,
            document=etree.Element("{urn:kprgw:test}Stand-in"),
        )
    )


async def put_annual_pair(
    ledger: Ledger,
    tenant: Tenant,
    environment: ReceiverEnvironment = "validation",
    *,
    state: MessageState = MessageState.BUILT,
) -> tuple[BuiltMessage, BuiltMessage]:
    """An annual submission to ``environment`` recorded as intake records it, its two
    messages moved on to ``state``; the ``BuiltMessage`` of each, as intake publishes it."""
    submission_id = str(uuid.uuid4())
    ids = (str(uuid.uuid4()), str(uuid.uuid4()))
    messages = tuple(
        AnnualMessage(msg_id, msg_type, annual_msghead(tenant, msg_id, msg_type, environment))
        for msg_id, msg_type in zip(ids, ("KPR_IPL", "KPR_IDE"), strict=True)
    )
    assert len(messages) == 2
    answer = await ledger.annual.record(
        tenant.id,
        NewAnnualSubmission(
            submission_id=submission_id,
            year=2025,
            environment=environment,
            report=REPORT,
            persons=40,
            trace_id=None,
            traceparent=None,
            messages=(messages[0], messages[1]),
        ),
    )
    assert answer.rule.value == "allowed"
    steps = _STEPS_TO[state]
    for message in messages:
        for step in steps:
            await ledger.advance_message(tenant.id, message.msg_id, step, trace_id=None)
    ipl, ide = (
        BuiltMessage(
            tenant_id=tenant.id,
            msg_id=uuid.UUID(m.msg_id),
            msg_type="KPR_IPL" if m.msg_type == "KPR_IPL" else "KPR_IDE",
            batch_id=uuid.UUID(submission_id),
            submission_id=uuid.UUID(submission_id),
            environment=environment,
            document=m.document,
        )
        for m in messages
    )
    return ipl, ide
