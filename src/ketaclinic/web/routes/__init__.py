"""Route modules (auto-discovered): each exposes `router` and may declare `NAV`."""
