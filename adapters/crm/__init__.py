"""The crm port and its implementations."""
