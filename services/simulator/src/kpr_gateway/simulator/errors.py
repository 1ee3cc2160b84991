"""Errors of the simulator; texts name files, HER-ids and message ids, never message content."""


class SimulatorError(Exception):
    """Root of every error raised by kpr_gateway.simulator."""


class SimulatorConfigError(SimulatorError):
    """The settings, the parties file or a certificate or key they name are unusable."""
