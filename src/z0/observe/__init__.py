"""z0 observing itself: metrics, health, live tenant logs (and traces)."""
