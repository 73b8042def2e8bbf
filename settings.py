"""Configuration of every Cashloop process, from CASHLOOP_* environment variables.

Only entry points (worker, starter, gateway, sandbox server, devstack) read settings;
libraries receive what they need as arguments.
"""

from __future__ import annotations

import os
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.erp.netsuite_records import NetSuiteBooks
from canonical.accounts import Account, ChartOfAccounts, LegalEntity
from canonical.catalog import RecognitionMethod
from canonical.customer import Address

# Offsets from CASHLOOP_SANDBOX_PORT, one port per sandbox system.
SANDBOX_OFFSETS: dict[str, int] = {
    "crm": 0,
    "tax": 1,
    "provisioning": 2,
    "payments": 3,
    "erp-legacy": 4,
    "erp-cloud": 5,
    "rates": 6,
}

ERP_TARGETS = ("erp-legacy", "erp-cloud")
PROJECT_ROOT = Path(__file__).resolve().parent

# Documented development values `make up`/`make demo` use when the real ones are unset.
DEV_STRIPE_WEBHOOK_SECRET = "whsec_cashloop_dev"
DEV_API_KEYS = "demo:dev-key"


class Settings(BaseSettings):
    """Every knob, with the documented loopback defaults (see README "Configuration")."""

    # CASHLOOP_SECRETS_DIR: a directory with one file per secret (Docker/Kubernetes
    # secrets), e.g. cashloop_database_url; see settings_secrets.py.
    model_config = SettingsConfigDict(env_prefix="CASHLOOP_", extra="ignore",
                                      secrets_dir=os.environ.get("CASHLOOP_SECRETS_DIR"))

    host: str = "127.0.0.1"
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    temporal_namespace: str = "default"
    # host:port of an existing Temporal frontend; defaults to host:temporal_port.
    temporal_address: str | None = None
    gateway_port: int = 8000
    sandbox_port: int = 8100
    data_dir: Path = PROJECT_ROOT / "data"
    # SQLAlchemy URL of the sandbox systems' and gateway's stores; default SQLite files
    # under data_dir. postgresql+psycopg://... switches every store to PostgreSQL.
    # A secret: it may hold a password.
    database_url: SecretStr | None = None
    task_queue: str = "cashloop"
    erp_task_queue: str = "cashloop-erp"
    # The ERP's request limit: each worker's ERP batcher paces its calls under it (with W
    # worker processes give each 1/W); the ERP task queue caps postings across workers.
    erp_max_rps: float = 25.0
    # ...and at most this many calls in flight, each with up to erp_max_batch postings.
    erp_max_concurrency: int = 5
    erp_max_batch: int = 100
    routing_file: Path = PROJECT_ROOT / "config" / "routing.toml"
    entities_file: Path = PROJECT_ROOT / "config" / "entities.toml"
    plans_file: Path = PROJECT_ROOT / "config" / "plans.toml"
    # Codec server for the Temporal UI (security/codec_server.py).
    codec_port: int = 8090
    # Origins allowed to call the codec server; default: the local Temporal UI.
    codec_cors_origins: list[str] = Field(default_factory=list)
    # Observability (observability/): log format json|console, trace exporter
    # none|console|otlp, worker /metrics port, Temporal SDK metrics port (0 = off).
    log_format: str = "console"
    log_level: str = "INFO"
    # Run workflow code in the SDK's sandbox. Off by default: the sandbox re-imports the
    # workflow modules (and rebuilds their pydantic models) for every new workflow, which
    # measured ~84 % of the worker's CPU under load (docs/performance.md). The test suite
    # and the replay tests always run workflows sandboxed, so non-deterministic code
    # still fails there.
    workflow_sandbox: bool = False
    # The worker's and the sandboxes' event loop: uvloop (where installed) or asyncio
    # (event_loop.py; docs/performance.md).
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    # Workflows the worker keeps in memory; beyond it the least recently used are evicted
    # (and replayed from history when they wake), so memory is bounded by this number,
    # not by the number of subscriptions. At least 1: see _a_cache_is_needed.
    worker_max_cached_workflows: int = 2000
    otel_exporter: str = "none"
    worker_metrics_port: int = 9464
    sdk_metrics_port: int = 9465
    # The embedded dev server's own Prometheus /metrics (its task queues and persistence);
    # 0 lets it pick a free port, as `temporal server start-dev` does by itself.
    temporal_metrics_port: int = 9466
    # Sandbox URLs; default http://host:sandbox_port+offset.
    sandbox_urls: dict[str, str] = Field(default_factory=dict)
    # Who collects dunning retries: the sandbox gateway, or Stripe (pays the Stripe invoice
    # with the customer's default payment method; needs CASHLOOP_STRIPE_API_KEY).
    payments_connector: Literal["sandbox", "stripe"] = "sandbox"
    # The billing system Cashloop tells when a dunning ladder writes off: none, or Stripe
    # (marks the invoice uncollectible, cancels the subscription; needs
    # CASHLOOP_STRIPE_API_KEY). Sets FlowConfig.close_written_off_upstream for new flows.
    billing_connector: Literal["none", "stripe"] = "none"
    # The event sources (docs/events.md `source`) whose subscriptions that billing system
    # bills, as a JSON list: '["stripe"]' where the gateway's Stripe mapping brings them
    # and other sources (a CPQ, canonical imports) bill elsewhere. Unset: every source.
    billing_connector_sources: list[str] | None = None
    stripe_api_base: str = "https://api.stripe.com"
    # Stripe-Version sent with every call; unset: the connector's pinned version.
    stripe_api_version: str | None = None
    # Who calculates invoice tax: the sandbox tax engine, or Avalara AvaTax (a saved
    # SalesInvoice per invoice; needs CASHLOOP_AVATAX_ACCOUNT_ID and _LICENSE_KEY).
    tax_connector: Literal["sandbox", "avalara"] = "sandbox"
    avatax_api_base: str = "https://rest.avatax.com"
    avatax_account_id: str | None = None
    # Legal entity -> AvaTax company code (default: the entity code), and the address each
    # entity sells from (JSON {"US01": {"line1": ..., "city": ..., "postal_code": ...,
    # "region": ..., "country": "US"}}).
    avatax_companies: dict[str, str] = Field(default_factory=dict)
    avatax_ship_from: dict[str, Address] = Field(default_factory=dict)
    # The CRM: the sandbox, or `salesforce` (accounts keyed by Cashloop's customer id,
    # notices as tasks; the org's My Domain URL here, the connected app's client id and
    # secret as CASHLOOP_SALESFORCE_CLIENT_ID / _SECRET).
    crm_connector: Literal["sandbox", "salesforce"] = "sandbox"
    salesforce_domain: str | None = None
    # Who holds entitlements: the sandbox, or `webhook` (the product's own endpoint takes
    # signed changes; adapters/provisioning/webhook.py; secret
    # CASHLOOP_PROVISIONING_WEBHOOK_SECRET).
    provisioning_connector: Literal["sandbox", "webhook"] = "sandbox"
    provisioning_webhook_url: str | None = None
    # Where exchange rates come from: the sandbox rate table, or `ecb` (the European
    # Central Bank's euro reference rates, crossed through the euro; no key needed).
    rates_connector: Literal["sandbox", "ecb"] = "sandbox"
    ecb_api_base: str = "https://data-api.ecb.europa.eu"
    # An ERP target on NetSuite (REST web services, token-based authentication) for customer
    # master and receivables, named `netsuite_target` in config/routing.toml; set with the
    # account id, the account's ids (netsuite_books, JSON: subsidiaries, accounts,
    # currencies) and the four CASHLOOP_NETSUITE_* secrets (docs/connectors.md).
    netsuite_account_id: str | None = None
    netsuite_target: str = "netsuite"
    netsuite_api_base: str | None = None  # default: the account's suitetalk host
    netsuite_books: NetSuiteBooks | None = None
    # With a sandbox ERP target named here (erp-cloud), the worker adds the target
    # "{netsuite_target}-revenue" for the revenue domain: that ERP keeps the revenue
    # schedules, NetSuite gets their journals (adapters/erp/revenue_subledger.py).
    netsuite_revenue_subledger: str | None = None
    # Postings per NetSuite call batch: each posting is a request of its own, in a row,
    # so small batches let erp_max_concurrency of them run side by side.
    netsuite_max_batch: int = 10
    # JSON overrides of workflows.config.FlowConfig for new workflows (e.g. shorter
    # dunning days in a demo): {"day_seconds": 2}.
    flow_config_json: str | None = None

    # --- gateway (see docs/gateway.md) ---
    # Stripe endpoint signing secrets, comma-separated, newest first (rotation). SecretStr:
    # never printed or logged.
    stripe_webhook_secrets: SecretStr | None = None
    # Canonical-event API keys as comma-separated `source:key` pairs.
    api_keys: SecretStr | None = None
    # Stripe customer -> Cashloop customer account and legal entity.
    stripe_customers_file: Path = PROJECT_ROOT / "config" / "stripe_customers.toml"
    # Per-call timeout, breaker and cache of the synchronous validation API.
    validation_timeout_s: float = 2.0
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0
    reference_cache_ttl_s: float = 300.0
    # How long Stripe events wait in the inbox so late siblings can be put in order.
    resequence_window_s: float = 2.0
    # Workflow tasks the engine's entity queue may hold before the forwarder waits for it
    # (gateway/engine_backlog.py): a burst waits in the inbox, not in Temporal. Off (0) by
    # default: it bounds the engine's queue but slowed every burst measured (docs/gateway.md).
    forward_max_engine_backlog: int = 0

    @field_validator("worker_max_cached_workflows")
    @classmethod
    def _a_cache_is_needed(cls, value: int) -> int:
        # Without a cache sdk-core cancels a run's local activities (the ERP calls of an
        # activation or an invoice) when it evicts the run after each workflow task, and
        # runs them again on replay: the task times out (10 s) and is retried, at 0.2
        # events/s (docs/performance.md, scale: "A miss without the history fetch").
        if value < 1:
            raise ValueError("CASHLOOP_WORKER_MAX_CACHED_WORKFLOWS must be at least 1: without "
                             "a workflow cache the workflow tasks that run local activities "
                             "time out and are retried")
        return value

    @cached_property
    def temporal_target(self) -> str:
        return self.temporal_address or f"{self.host}:{self.temporal_port}"

    def ui_origins(self) -> list[str]:
        """Browser origins of the Temporal UI that may call the codec server."""
        return self.codec_cors_origins or [f"http://{self.host}:{self.temporal_ui_port}",
                                           f"http://localhost:{self.temporal_ui_port}"]

    def sandbox_url(self, name: str) -> str:
        """Base URL of one sandbox system (crm, tax, provisioning, payments, erp-*, rates)."""
        if name in self.sandbox_urls:
            return self.sandbox_urls[name]
        return f"http://{self.host}:{self.sandbox_port + SANDBOX_OFFSETS[name]}"

    def webhook_secrets(self) -> list[str]:
        """The Stripe signing secrets, newest first."""
        raw = self.stripe_webhook_secrets.get_secret_value() if self.stripe_webhook_secrets else ""
        return [s.strip() for s in raw.split(",") if s.strip()]

    def api_key_map(self) -> dict[str, str]:
        """source -> API key, from `source:key` pairs.

        Raises:
            ValueError: a pair without a source or a key (the key itself is not shown).
        """
        raw = self.api_keys.get_secret_value() if self.api_keys else ""
        keys: dict[str, str] = {}
        for number, pair in enumerate((p.strip() for p in raw.split(",") if p.strip()), 1):
            source, _, key = pair.partition(":")
            if not source.strip() or not key.strip():
                raise ValueError(f"CASHLOOP_API_KEYS pair {number} is not `source:key`")
            keys[source.strip()] = key.strip()
        return keys

    def store_url(self, name: str) -> str:
        """Database URL for one store; SQLite gets a file per store."""
        if self.database_url:
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'stores' / f'{name}.db').resolve()}"


def load_entities(path: Path) -> dict[str, LegalEntity]:
    """Legal entities and their charts of accounts from the entities TOML file."""
    raw = tomllib.loads(path.read_text())
    entities = {}
    for code, spec in raw["entities"].items():
        chart = ChartOfAccounts(
            legal_entity=code, functional_currency=spec["functional_currency"],
            accounts={role: Account(code=c, name=n) for role, (c, n) in spec["accounts"].items()},
        )
        entities[code] = LegalEntity(code=code, name=spec["name"],
                                     countries=spec["countries"], chart=chart)
    return entities


def load_recognition_methods(path: Path) -> dict[str, RecognitionMethod]:
    """Plan code -> revenue recognition method, from the plans TOML file."""
    raw = tomllib.loads(path.read_text()) if path.exists() else {}
    return {plan: RecognitionMethod(m) for plan, m in raw.get("recognition", {}).items()}
