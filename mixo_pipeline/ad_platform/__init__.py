"""The one place that talks to the ad platform: auth, rate limiting, retries, pagination."""
