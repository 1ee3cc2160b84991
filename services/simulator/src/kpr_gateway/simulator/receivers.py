"""The KPR receivers the simulator plays, from the gateway's own table of them."""

from __future__ import annotations

from typing import Final

from kpr_gateway.tenancy.receivers import FHI_HER_ID, KPR_RECEIVERS

# Production (122612), validation (171479) and NHN's communication test (8133973).
KPR_HER_IDS: Final = tuple(
    receiver.service.her_id for receiver in KPR_RECEIVERS.values() if receiver.service is not None
)
DEFAULT_RECEIVER_QUEUES: Final = tuple(f"{her_id}_async" for her_id in KPR_HER_IDS)

__all__ = ["DEFAULT_RECEIVER_QUEUES", "FHI_HER_ID", "KPR_HER_IDS"]
