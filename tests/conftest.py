"""Shared fixtures; every test is marked by the folder it lives in (unit, integration, ...)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
GOLDEN_DIR = REPO_ROOT / "tests" / "golden"
_LAYERS = ("unit", "integration", "e2e", "conformance")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(REPO_ROOT / "tests").parts
        if parts and parts[0] in _LAYERS:
            item.add_marker(getattr(pytest.mark, parts[0]))


@pytest.fixture(scope="session")
def standards_dir() -> Path:
    """The official schemas and samples: ``KPRGW_STANDARDS_DIR`` or ``../shared/standards``."""
    configured = os.environ.get("KPRGW_STANDARDS_DIR")
    path = Path(configured) if configured else REPO_ROOT.parent / "shared" / "standards"
    if not (path / "xsd" / "MsgHead-v1_2.xsd").is_file():
        pytest.fail(f"official standards not found at {path}; set KPRGW_STANDARDS_DIR")
    return path


@pytest.fixture(scope="session")
def samples_dir(standards_dir: Path) -> Path:
    return standards_dir / "samples"


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    return GOLDEN_DIR
