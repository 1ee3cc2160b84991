"""From settings to the simulated Address Registry: the known senders and FHI's parties."""

from __future__ import annotations

from kpr_gateway.simulator.config import credentials_from
from kpr_gateway.simulator.errors import SimulatorConfigError
from kpr_gateway.simulator.parties import load_parties
from kpr_gateway.simulator.registry import SimulatedRegistry, simulated_registry
from kpr_gateway.simulator.settings import SimulatorSettings


def build_registry(settings: SimulatorSettings) -> SimulatedRegistry | None:
    """None when the registry is switched off; files are read and checked now."""
    if not settings.registry_enabled:
        return None
    return simulated_registry(
        load_parties(settings.parties_file),
        credentials_from(settings),
        username=settings.registry_username,
        password=_password(settings),
    )


def _password(settings: SimulatorSettings) -> str | None:
    if settings.registry_password_file is None:
        return None
    try:
        return settings.registry_password_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise SimulatorConfigError(f"registry_password_file cannot be read ({reason})") from exc
