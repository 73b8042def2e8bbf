"""The tax port and its implementations."""
