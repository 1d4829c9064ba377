"""Observability: tracing, metrics, alerts and live logs."""
