"""Public mode's guards, for strangers on the host's token (share link, Space, --public).

    quota       per-visitor images per hour and generations at once; who a request comes from
    proxies     which peers may say who the visitor is (X-Forwarded-For, --trusted-proxies)
    budget      the host's daily budget in dollars, all visitors together
    visitors    the per-browser visitor id (a random cookie) for per-visitor history
    request_guard  bounded request headers before anything parses them (ASGI middleware)
"""

from imagen_ui.public.budget import Budget, BudgetSpent
from imagen_ui.public.proxies import ProxyTrust, same_peer_warning
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

__all__ = ["SET_COOKIE_JS", "Budget", "BudgetSpent", "ProxyTrust", "Quota", "QuotaExceeded", "Reservation",
           "client_address", "quota_from_settings", "same_peer_warning", "token_owner", "trust_forwarded_for",
           "visitor_id", "visitor_keys"]
