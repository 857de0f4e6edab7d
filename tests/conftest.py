"""Shared fixtures: where ../shared is, and skips that say why when it is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MSS_SHARED", REPO.parent / "shared"))


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        pytest.skip(f"{what} not found at {path} (the ../shared folder beside the checkout); "
                    "set MSS_SHARED to its location to run this test")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _need(SHARED, "shared data")


@pytest.fixture(scope="session")
def mir1k_root() -> Path:
    """Real MIR-1K clips laid out as train/ dev/ test/ (FLAC)."""
    return _need(SHARED / "data" / "mir1k", "MIR-1K subset")


@pytest.fixture(scope="session")
def mixin_pretrained_dir() -> Path:
    return _need(SHARED / "data" / "mixin_pretrained", "MiXiN pretrained models")


@pytest.fixture(scope="session")
def mixin_reference_dir() -> Path:
    return _need(SHARED / "reference" / "mixin", "MiXiN reference outputs")


@pytest.fixture(scope="session")
def musdb_sample_dir() -> Path:
    """Real MUSDB18 excerpts: test/<track>/*.wav (MUSDB18-HQ layout) and stems/test/<track>.stem.mp4."""
    return _need(SHARED / "data" / "musdb_sample", "MUSDB18 sample")


@pytest.fixture(scope="session")
def xumx_reference_dir() -> Path:
    """Golden outputs of the original xumx-sliCQ v1 code (README.md inside)."""
    return _need(SHARED / "reference" / "xumx_slicq", "xumx-sliCQ reference outputs")
