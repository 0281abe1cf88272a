"""A runnable imitation of the ad platform, strict by default, with the original's quirks on demand.

See ``python -m mock_api --help`` for the knobs, and the ad platform API contract
(``shared/spec/ad-platform-api.md``) for what it imitates.
"""

from mock_api.app import create_app
from mock_api.config import MockConfig, Outage
from mock_api.server import MockProcess, MockServer

__all__ = ["MockConfig", "MockProcess", "MockServer", "Outage", "create_app"]
