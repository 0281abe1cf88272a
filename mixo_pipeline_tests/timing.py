"""The rate-limit margin of the tests whose claim is that the platform never answered 429.

The client spaces a request and the one ``limit`` requests later at least ``window + margin``
apart; the platform refuses the later one only if the earlier one's delay between permit and
arrival exceeds the later one's by more than the margin. On a loaded 2-core CI box that spread
reached about 0.1 s (docs/performance.md), so these tests use three times that.
"""

LOADED_MARGIN_S = 0.3
