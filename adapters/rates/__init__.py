"""Exchange rate providers."""
