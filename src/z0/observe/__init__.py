"""z0 observing itself: metrics, health, traces and live tenant logs."""
