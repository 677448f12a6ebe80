from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def example_repository() -> Path:
    return REPO_ROOT / "example_suite" / "model_repository"
