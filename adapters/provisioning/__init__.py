"""The provisioning port and its implementations."""
