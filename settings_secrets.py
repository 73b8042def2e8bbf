"""Credentials of every Cashloop process: from environment or a secrets directory, never code.

Each field is read from ``CASHLOOP_<NAME>`` or, when ``CASHLOOP_SECRETS_DIR`` is set, from
a file named ``cashloop_<name>`` in that directory (Docker/Kubernetes secrets). Secret
values are ``SecretStr``: their repr is masked, so they never reach a log line by accident.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from security.keys import KeyRing


class Secrets(BaseSettings):
    """Every credential, typed (see README "Secrets")."""

    model_config = SettingsConfigDict(env_prefix="CASHLOOP_", extra="ignore")

    # Payload encryption keys, "kid:base64key" newest first (commas or newlines) ...
    codec_keys: SecretStr | None = None
    # ... or the path of a file holding them (checked in the same format).
    codec_keys_file: Path | None = None
    # Bearer token the codec server requires (finance users, CLI --codec-auth).
    codec_token: SecretStr | None = None
    # Bearer tokens Cashloop sends to external systems, by system name
    # (erp-legacy, erp-cloud, crm, tax, provisioning): JSON {"erp-cloud": "..."}.
    api_tokens: dict[str, SecretStr] = {}
    # Stripe secret (or restricted) key of the payments connector: invoices read and write.
    stripe_api_key: SecretStr | None = None
    # AvaTax license key of the tax connector (with CASHLOOP_AVATAX_ACCOUNT_ID).
    avatax_license_key: SecretStr | None = None
    # The signing secret of the provisioning webhooks (shared with the product).
    provisioning_webhook_secret: SecretStr | None = None
    # Salesforce connected app (client-credentials flow) of the CRM connector.
    salesforce_client_id: SecretStr | None = None
    salesforce_client_secret: SecretStr | None = None
    # NetSuite token-based authentication (CASHLOOP_NETSUITE_ACCOUNT_ID's integration record
    # and access token).
    netsuite_consumer_key: SecretStr | None = None
    netsuite_consumer_secret: SecretStr | None = None
    netsuite_token_id: SecretStr | None = None
    netsuite_token_secret: SecretStr | None = None
    # Shared secrets for webhook signature checks, by source (for the gateway).
    webhook_secrets: dict[str, SecretStr] = {}

    def key_ring(self) -> KeyRing | None:
        """The codec's key ring, or None when payload encryption is not configured."""
        if self.codec_keys is not None:
            return KeyRing.parse(self.codec_keys.get_secret_value())
        if self.codec_keys_file is not None:
            return KeyRing.from_file(self.codec_keys_file)
        return None


def load_secrets() -> Secrets:
    """Secrets from the environment and, if CASHLOOP_SECRETS_DIR is set, that directory."""
    secrets_dir = os.environ.get("CASHLOOP_SECRETS_DIR")
    # _secrets_dir is a BaseSettings init option; without the pydantic mypy plugin the
    # type checker knows only the fields as arguments
    return (Secrets(_secrets_dir=secrets_dir)  # type: ignore[call-arg]
            if secrets_dir else Secrets())
