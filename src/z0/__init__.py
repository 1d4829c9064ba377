"""z0: a self-hosted Workers for Platforms."""

__version__ = "0.1.0"
