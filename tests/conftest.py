"""Session fixtures: Temporal servers on local binaries (never downloaded), free ports only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from devstack.binaries import temporal_cli, temporal_test_server
from payload_converter import shared_data_converter
from workflows.search import ALL_KEYS


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server (no custom search attributes there)."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=shared_data_converter,
        test_server_existing_path=temporal_test_server())
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (in memory, on a free port) with our search attributes."""
    env = await WorkflowEnvironment.start_local(
        data_converter=shared_data_converter, dev_server_existing_path=temporal_cli(),
        search_attributes=ALL_KEYS,
        dev_server_extra_args=["--dynamic-config-value", "frontend.namespaceCount=5000"])
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def ts_client(ts_env: WorkflowEnvironment) -> Client:
    return ts_env.client


@pytest.fixture
def dev_client(dev_env: WorkflowEnvironment) -> Client:
    return dev_env.client
