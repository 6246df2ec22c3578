import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INSTANCES = ROOT / "instances"


@pytest.fixture(scope="session")
def tiny_path() -> Path:
    return INSTANCES / "tiny.yaml"


@pytest.fixture(scope="session")
def tiny(tiny_path):
    import specpim

    return specpim.load_instance(tiny_path)


@pytest.fixture(autouse=True)
def _quiet_pulp():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="pulp")
        yield
