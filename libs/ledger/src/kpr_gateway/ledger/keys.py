"""Redis key layout. Every per-tenant key carries the tenant as a hash tag (``{tenant}``)
so that all of a tenant's keys live in one Redis Cluster slot and the Lua scripts,
which touch several keys at once, stay valid under Cluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

PRODUCTION: Final = "production"
"""``tenancy.TargetEnvironment.PRODUCTION`` (the ledger does not depend on tenancy)."""


@dataclass(frozen=True, slots=True)
class KeySpace:
    prefix: str = "kprgw"

    def _tenant(self, tenant_id: str) -> str:
        return f"{self.prefix}:{{{tenant_id}}}"

    def event(self, tenant_id: str, event_id: str) -> str:
        return f"{self._tenant(tenant_id)}:ev:{event_id}"

    def event_history(self, tenant_id: str, event_id: str) -> str:
        return f"{self.event(tenant_id, event_id)}:hist"

    def message(self, tenant_id: str, msg_id: str) -> str:
        return f"{self._tenant(tenant_id)}:msg:{msg_id}"

    def message_history(self, tenant_id: str, msg_id: str) -> str:
        return f"{self.message(tenant_id, msg_id)}:hist"

    def webhook_deliveries(self, tenant_id: str, msg_id: str) -> str:
        """Hash: the message's webhook deliveries, fields ``<client_id>:<field>``."""
        return f"{self.message(tenant_id, msg_id)}:webhooks"

    def awaiting_receipt(self, tenant_id: str) -> str:
        """Sorted set: dispatched messages by dispatch time, for overdue detection."""
        return f"{self._tenant(tenant_id)}:awaiting"

    def overdue(self, tenant_id: str) -> str:
        """Sorted set: messages past the AppRec deadline that still have no outcome."""
        return f"{self._tenant(tenant_id)}:overdue"

    def transport_id(self, tenant_id: str, transport_message_id: str) -> str:
        """AMQP message-id of a sent message -> its MsgId (transport errors name the former)."""
        return f"{self._tenant(tenant_id)}:amqp:{transport_message_id}"

    def chain_head(self, tenant_id: str, municipality: str) -> str:
        """Hash {seq, guid}: the last numbered notification of a municipality (no expiry)."""
        return f"{self._tenant(tenant_id)}:chain:{municipality}"

    def chain_log(self, tenant_id: str, municipality: str) -> str:
        """List of the event ids of a municipality's numbered notifications, index = seq - 1."""
        return f"{self.chain_head(tenant_id, municipality)}:log"

    def chains(self, tenant_id: str) -> str:
        """Set of the municipalities with a chain."""
        return f"{self._tenant(tenant_id)}:chains"

    def annual_submission(self, tenant_id: str, submission_id: str) -> str:
        """Hash: one annual submission (year, environment, state, report, its two msg ids)."""
        return f"{self._tenant(tenant_id)}:annual:{submission_id}"

    def annual_current(self, tenant_id: str, year: int, environment: str) -> str:
        """The id of the year's current submission to the environment's receiver: the last
        one sent there. Production keeps the key it had before submissions named their
        environment; a test submission (KPR Validering) has a key of its own, so it neither
        blocks nor stands for the year's submission to KPR."""
        key = f"{self._tenant(tenant_id)}:annual-current:{year}"
        return key if environment == PRODUCTION else f"{key}:{environment}"

    def annual_year(self, tenant_id: str, year: int) -> str:
        """Sorted set: every submission of the year (sent or refused), by creation time."""
        return f"{self._tenant(tenant_id)}:annual-year:{year}"

    def annual_years(self, tenant_id: str) -> str:
        """Set of the years with a submission."""
        return f"{self._tenant(tenant_id)}:annual-years"

    def annual_unpublished(self, tenant_id: str) -> str:
        """Sorted set: annual messages recorded but not yet confirmed on the bus, by time."""
        return f"{self._tenant(tenant_id)}:annual-unpublished"

    def message_index(self, msg_id: str) -> str:
        """MsgId -> tenant, for operators who only have a MsgId (no hash tag: single-key use)."""
        return f"{self.prefix}:msgidx:{msg_id}"
