"""The one way Cashloop processes connect to Temporal (data converter, codec, tracing)."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.runtime import Runtime

from observability.tracing import client_interceptors
from security.codec import data_converter
from security.keys import KeyRing, dev_key_path
from settings import Settings
from settings_secrets import Secrets, load_secrets


async def connect(settings: Settings, secrets: Secrets | None = None, *,
                  runtime: Runtime | None = None) -> Client:
    """A client for the configured namespace: pydantic payloads, AES-GCM encrypted when
    codec keys are configured, and OpenTelemetry tracing of every call.

    Without configured keys, the development key of the data dir (created by `make up`)
    is used if present, so the CLI reads what the local stack wrote.
    """
    ring = (secrets or load_secrets()).key_ring()
    dev_key = dev_key_path(settings.data_dir)
    if ring is None and dev_key.exists():
        ring = KeyRing.from_file(dev_key)
    return await Client.connect(settings.temporal_target, namespace=settings.temporal_namespace,
                                data_converter=data_converter(ring),
                                interceptors=client_interceptors(), runtime=runtime)
