"""The ingestion gateway: webhooks and canonical events in, durable inbox, dead letters,
synchronous validation API (see docs/gateway.md)."""
