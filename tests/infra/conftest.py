"""Fixtures for the infrastructure tests; the mock engine and its recorder live in infra_harness.py."""

from __future__ import annotations

import pytest

from infra_harness import INFRA_DIR, Recorder, deploy, load_stack, platform_on  # sets the mocks first

from gereedschapskist.catalogue import Catalogue, load  # noqa: E402
from gereedschapskist.infra.config import StackConfig  # noqa: E402


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load()


@pytest.fixture(scope="session")
def stack_file():
    def _load(name: str) -> StackConfig:
        return load_stack(name, INFRA_DIR)
    return _load


@pytest.fixture(scope="session")
def deployments(catalogue):
    """Deploy each example stack once per test session (each deploy takes about a second)."""
    cache: dict[str, Recorder] = {}

    def _get(key: str) -> Recorder:
        if key not in cache:
            stack = platform_on(key.split(":", 1)[1]) if key.startswith("platform:") else load_stack(key, INFRA_DIR)
            cache[key] = deploy(stack, catalogue)
        return cache[key]
    return _get
