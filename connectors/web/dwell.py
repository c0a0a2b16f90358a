"""Page dwell (docs/web-protocol.md, Widget): the widget's `dwell` frame checked and sized.

The widget counts the time a product page (its path contains `connectors.web.dwell.path_pattern`)
is visible and, once it reaches the threshold, sends `{"type": "dwell", "page_url", "seconds",
"view_id"}` once per page view. The socket records it as a `page_dwell` customer event (source
"widget"), which the proactive scheduler turns into the "need help?" message. `view_id` (one per
page load) makes the event idempotent: the same view reported again, on this socket or after a
reconnect, is stored once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from connectors.web.context import MAX_FIELD_CHARS
from connectors.web.settings import Dwell

SOURCE = "widget"
EVENT_TYPE = "page_dwell"
MAX_SECONDS = 86_400
MAX_PER_SOCKET = 20  # page views one socket may report: a socket lives for one page load
_VIEW_ID = re.compile(r"^[A-Za-z0-9-]{1,48}$")


class DwellError(ValueError):
    """A `dwell` frame that cannot be used; the message names the field."""


@dataclass(frozen=True)
class PageDwell:
    page_url: str
    seconds: int
    view_id: str | None

    def event_id(self, customer_id: str, fallback_view: str) -> str:
        """The event's id for the store's de-duplication: one per customer and page view."""
        return f"dwell:{customer_id}:{self.view_id or fallback_view}"

    def data(self) -> dict[str, Any]:
        return {"page_url": self.page_url, "seconds": self.seconds}


def parse_dwell(frame: dict[str, Any], settings: Dwell) -> PageDwell:
    """The checked frame; DwellError naming what is wrong (including a page that is not one the
    dwell is configured for)."""
    url, seconds, view_id = frame.get("page_url"), frame.get("seconds"), frame.get("view_id")
    if not isinstance(url, str) or not url:
        raise DwellError("'page_url' must be a non-empty string")
    if len(url) > MAX_FIELD_CHARS:
        raise DwellError(f"'page_url' is over {MAX_FIELD_CHARS} characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise DwellError(f"'page_url' is not a URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise DwellError("'page_url' must be an http(s) URL")
    if settings.path_pattern not in parts.path:
        raise DwellError(f"'page_url' is not a page whose path contains {settings.path_pattern!r}")
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= MAX_SECONDS:
        raise DwellError(f"'seconds' must be a whole number from 1 to {MAX_SECONDS}")
    if view_id is not None and (not isinstance(view_id, str) or not _VIEW_ID.match(view_id)):
        raise DwellError("'view_id' must be 1 to 48 letters, digits or dashes")
    return PageDwell(url, seconds, view_id)
