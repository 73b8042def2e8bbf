"""Gateway configuration: API keys and signing secrets from settings, never shown."""

from __future__ import annotations

import pytest

from gateway.auth import ApiKeys, presented_key
from gateway.sources.customers import CustomerMap, CustomerMapError, parse_customers
from settings import Settings


def test_api_keys_are_source_key_pairs() -> None:
    settings = Settings(api_keys="billing:k1, cpq : k2")  # type: ignore[arg-type]
    assert settings.api_key_map() == {"billing": "k1", "cpq": "k2"}


@pytest.mark.parametrize("raw", ["billing", "billing:", ":key"])
def test_a_malformed_api_key_pair_is_refused_without_showing_it(raw: str) -> None:
    settings = Settings(api_keys=f"ok:fine,{raw}")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pair 2") as info:
        settings.api_key_map()
    assert "fine" not in str(info.value)


def test_webhook_secrets_keep_their_order_newest_first() -> None:
    settings = Settings(stripe_webhook_secrets="whsec_new, whsec_old")  # type: ignore[arg-type]
    assert settings.webhook_secrets() == ["whsec_new", "whsec_old"]


def test_secrets_never_appear_in_the_settings_repr() -> None:
    settings = Settings(stripe_webhook_secrets="whsec_topsecret",  # type: ignore[arg-type]
                        api_keys="billing:key-topsecret")  # type: ignore[arg-type]
    assert "topsecret" not in repr(settings) and "topsecret" not in str(settings.model_dump())


def test_api_key_lookup_names_the_source_and_never_the_key() -> None:
    keys = ApiKeys({"billing": "k-billing", "cpq": "k-cpq"})
    assert keys.source_of("k-cpq") == "cpq"
    assert keys.source_of("k-cp") is None and keys.source_of("") is None
    assert keys.source_of(None) is None
    assert "k-billing" not in repr(keys)


def test_presented_key_reads_the_header_or_a_bearer_token() -> None:
    assert presented_key("a", None) == "a"
    assert presented_key(None, "Bearer b") == "b"
    assert presented_key(None, "Basic c") is None


def test_customer_map_errors_name_the_entry_and_field() -> None:
    with pytest.raises(CustomerMapError, match=r"customers\.cus_1\.legal_entity"):
        parse_customers('[customers.cus_1]\ncustomer_id = "c"\nname = "n"\n'
                        'legal_entity = "bad entity"\ncountry = "US"\ncurrency = "USD"\n'
                        '[customers.cus_1.bill_to]\nname = "n"\n'
                        '[customers.cus_1.bill_to.address]\nline1 = "l"\ncity = "c"\n'
                        'postal_code = "1"\ncountry = "US"\n')


def test_customer_map_without_its_file_maps_nobody(tmp_path) -> None:
    assert CustomerMap(tmp_path / "missing.toml").get("cus_x") is None
