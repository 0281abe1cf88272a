"""Data-quality alerts: what an alert says and how it reaches a Slack-compatible webhook."""
