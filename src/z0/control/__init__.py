"""The control API (`/client/v4`): Cloudflare-shaped routes for namespaces, scripts and tags, and z0's
tenants, gateway keys and API tokens."""

from z0.control._app import API_PREFIX, create_control_app

__all__ = ["API_PREFIX", "create_control_app"]
