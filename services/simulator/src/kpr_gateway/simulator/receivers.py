"""The KPR receivers the simulator plays, from the gateway's own table of them."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from kpr_gateway.tenancy.receivers import FHI_HER_ID, KPR_RECEIVERS

# Production (122612), validation (171479) and NHN's communication test (8133973).
KPR_HER_IDS: Final = tuple(
    receiver.service.her_id for receiver in KPR_RECEIVERS.values() if receiver.service is not None
)
DEFAULT_RECEIVER_QUEUES: Final = tuple(f"{her_id}_async" for her_id in KPR_HER_IDS)
# Whose queue each default queue is: a message on it must be addressed (toHerId) to that
# receiver, as on NHN, where a queue belongs to one communication party. Other queue names
# (a prefixed local run) have no known owner and are not checked.
RECEIVER_OF_QUEUE: Final = MappingProxyType({f"{her_id}_async": her_id for her_id in KPR_HER_IDS})

__all__ = ["DEFAULT_RECEIVER_QUEUES", "FHI_HER_ID", "KPR_HER_IDS", "RECEIVER_OF_QUEUE"]
