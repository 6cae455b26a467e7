"""Public mode's guards, for strangers on the host's token (share link, Space, --public).

    quota       per-visitor images per hour and generations at once; who a request comes from
    visitors    the per-browser visitor id (a random cookie) for per-visitor history
"""

from imagen_ui.public.quota import (
    Quota,
    QuotaExceeded,
    Reservation,
    client_address,
    quota_from_settings,
    trust_forwarded_for,
    visitor_keys,
)
from imagen_ui.public.visitors import SET_COOKIE_JS, token_owner, visitor_id

__all__ = ["SET_COOKIE_JS", "Quota", "QuotaExceeded", "Reservation", "client_address", "quota_from_settings",
           "token_owner", "trust_forwarded_for", "visitor_id", "visitor_keys"]
