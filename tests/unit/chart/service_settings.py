"""Each deployed service's own settings class: what its KPRGW_<SERVICE>_* variables must fit."""

from __future__ import annotations

import re

from pydantic_settings import BaseSettings

from kpr_gateway.dispatch.settings import DispatchSettings
from kpr_gateway.envelope.settings import EnvelopeSettings
from kpr_gateway.intake.settings import IntakeSettings
from kpr_gateway.receipts.settings import ReceiptsSettings
from kpr_gateway.simulator.settings import SimulatorSettings
from kpr_gateway.transform.settings import TransformSettings
from kpr_gateway.webhooks.settings import WebhooksSettings

SETTINGS: dict[str, type[BaseSettings]] = {
    "intake": IntakeSettings,
    "transform": TransformSettings,
    "envelope": EnvelopeSettings,
    "dispatch": DispatchSettings,
    "receipts": ReceiptsSettings,
    "webhooks": WebhooksSettings,
    "simulator": SimulatorSettings,
}


def snake(name: str) -> str:
    """A chart option's camelCase name as the settings field it sets (maxBatchEvents ->
    max_batch_events), as the chart's snakecase does."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
