"""``bench`` is the repository's own folder, not an installed package: importable from here."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = str(Path(__file__).resolve().parents[3])
if REPO not in sys.path:
    sys.path.append(REPO)
