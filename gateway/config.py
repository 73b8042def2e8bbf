"""Everything the gateway app needs, built once from settings (tests build it directly)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from temporalio.client import Client

from canonical.accounts import LegalEntity
from ports import ValidationPorts, validation_ports
from settings import Settings, load_entities
from workflows.config import FlowConfig

from .signatures import DEFAULT_TOLERANCE_S
from .sources.customers import CustomerMap


@dataclass
class GatewayConfig:
    store_url: str
    api_keys: dict[str, str]
    webhook_secrets: list[str]
    flow: FlowConfig
    connect: Callable[[], Awaitable[Client]]
    crm_url: str
    tax_url: str
    entities: dict[str, LegalEntity]
    customers: CustomerMap
    validation_timeout_s: float = 2.0
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0
    cache_ttl_s: float = 300.0
    resequence_window_s: float = 2.0
    max_engine_backlog: int = 0  # no limit: forward as fast as Temporal accepts
    signature_tolerance_s: int = DEFAULT_TOLERANCE_S
    forward: bool = True  # run the forwarder in this process
    post_validation_every_s: float = 5.0
    store_schema: str = "gateway"  # PostgreSQL schema of the store
    notes: list[str] = field(default_factory=list)
    # The CRM and tax quoter of the validation API when a vendor connector is configured
    # (ports.validation_ports); None: the sandboxes at crm_url and tax_url.
    validation_ports: Callable[[], ValidationPorts] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> GatewayConfig:
        from cli.send import flow_config
        from settings_secrets import load_secrets
        from temporal_client import connect

        secrets = settings.webhook_secrets()
        if not secrets:  # CASHLOOP_WEBHOOK_SECRETS={"stripe": "whsec_a,whsec_b"}
            per_source = load_secrets().webhook_secrets.get("stripe")
            raw = per_source.get_secret_value() if per_source else ""
            secrets = [x.strip() for x in raw.split(",") if x.strip()]
        return cls(
            store_url=settings.store_url("gateway"), api_keys=settings.api_key_map(),
            webhook_secrets=secrets, flow=flow_config(settings),
            connect=lambda: connect(settings), crm_url=settings.sandbox_url("crm"),
            tax_url=settings.sandbox_url("tax"),
            entities=load_entities(settings.entities_file),
            customers=CustomerMap(settings.stripe_customers_file),
            validation_timeout_s=settings.validation_timeout_s,
            breaker_failures=settings.breaker_failures,
            breaker_cooldown_s=settings.breaker_cooldown_s,
            cache_ttl_s=settings.reference_cache_ttl_s,
            resequence_window_s=settings.resequence_window_s,
            max_engine_backlog=settings.forward_max_engine_backlog,
            validation_ports=(
                None if (settings.crm_connector, settings.tax_connector) == ("sandbox", "sandbox")
                else lambda: validation_ports(settings, load_secrets(),
                                              settings.validation_timeout_s)))
