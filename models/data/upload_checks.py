"""The version of the checks that an uploaded CSV passes when it is stored.

Each upload's description records the version that its file passed as
``checks``. Descriptions written before versions were recorded have no
``checks``. Their files passed the checks without the NYSE session check
and the row checks of dates and prices (``strict_rows``). A stored file
whose description has another version than ``CHECKS_VERSION`` is checked
again when it is described (``service.series_store``), so raise the
version whenever a check that uploads pass is added or tightened.
"""

from __future__ import annotations

# 1: the NYSE session check and the row checks of dates (YYYY-MM-DD, a time
# of day without a UTC offset read at midnight) and of open, high, low and
# close prices
CHECKS_VERSION = 1
