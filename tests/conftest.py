import warnings
from pathlib import Path

import pytest

from helpers import INSTANCES


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
