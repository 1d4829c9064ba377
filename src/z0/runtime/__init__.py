"""The runtime: tenant Workers in their own QuickJS isolates."""
