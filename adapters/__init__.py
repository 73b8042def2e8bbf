"""Ports (one Protocol per kind of system) and the implementations behind them."""
