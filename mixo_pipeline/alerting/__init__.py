"""Data-quality alerts: what an alert says, and the webhook that carries it."""
