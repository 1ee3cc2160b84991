"""``python -m kpr_gateway.envelope`` refuses to start without a tenant's certificates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kpr_gateway.security.devpki import DevPki
from tests.support.outbound_world import bergen_entry, trondheim_entry, write_tenants


def test_start_up_stops_with_the_tenant_named(dev_pki: DevPki, tmp_path: Path) -> None:
    write_tenants(dev_pki, tmp_path, [bergen_entry(), trondheim_entry(certificates=False)])
    environment = {
        **os.environ,
        "KPRGW_ENVELOPE_TENANTS_FILE": str(tmp_path / "tenants.yaml"),
        "KPRGW_ENVELOPE_HTTP_PORT": "0",
        "KPRGW_ENVELOPE_LOG_JSON": "false",
    }
    finished = subprocess.run(
        [sys.executable, "-m", "kpr_gateway.envelope"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 2
    assert "envelope: tenant trondheim: certificates are not configured" in finished.stderr
