from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def effects_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "effects.log"
    monkeypatch.setenv("JOBGATE_TEST_EFFECTS", str(path))
    return path
