"""`python -m gateway`: the gateway under uvicorn on CASHLOOP_HOST:CASHLOOP_GATEWAY_PORT."""

from __future__ import annotations

import gc
import sys

import uvicorn

from observability.logging import configure_logging
from observability.metrics import install_meter_provider
from settings import Settings

from .app import create_app
from .config import GatewayConfig


def main() -> int:
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level, service="gateway")
    install_meter_provider()  # OTel instruments, exported on this gateway's /metrics
    config = GatewayConfig.from_settings(settings)
    if not config.webhook_secrets:
        print("gateway: no CASHLOOP_STRIPE_WEBHOOK_SECRETS: every Stripe webhook is refused",
              file=sys.stderr)
    if not config.api_keys:
        print("gateway: no CASHLOOP_API_KEYS: every canonical event is refused", file=sys.stderr)
    app = create_app(config)
    # Everything imported so far lives for the whole process: keep it out of collections,
    # and collect young objects less often (each request makes many short-lived ones).
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    print(f"gateway listening on http://{settings.host}:{settings.gateway_port} "
          f"(store {config.store_url.split('@')[-1]})", flush=True)
    # log_config=None: uvicorn logs through the process's (masked, structured) logging
    uvicorn.run(app, host=settings.host, port=settings.gateway_port, log_level="warning",
                access_log=False, log_config=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
