"""The one way Cashloop processes connect to Temporal (data converter, namespace)."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from settings import Settings


async def connect(settings: Settings) -> Client:
    """A client for the configured namespace with the pydantic data converter."""
    return await Client.connect(settings.temporal_target, namespace=settings.temporal_namespace,
                                data_converter=pydantic_data_converter)
