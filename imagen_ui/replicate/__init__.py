"""The Replicate layer: an async httpx client of Replicate's HTTP API.

    client        ReplicateClient: create/run/get/cancel predictions, models, account, downloads
    errors        one hierarchy of typed errors, made where they arise (no message holds a token)
    prediction    typed, immutable views of a prediction's JSON
    polling       one shared poller for every in-flight prediction
    downloads     which output URLs may be fetched, with which credentials, how many bytes
    retry         which requests may be retried, and how long to wait
    pacing        a token bucket that paces creates under the account's rate limit
    webhook_signature  Standard Webhooks signing and verification
    webhook_receiver   the POST route that takes Replicate's deliveries

Nothing here knows of Gradio, the history or public mode.
"""

from imagen_ui.replicate.client import *  # noqa: F403 (the client's __all__ is this layer's surface)
from imagen_ui.replicate.client import __all__ as _client_all
from imagen_ui.replicate.pacing import TokenBucket
from imagen_ui.replicate.prediction import TERMINAL_STATUSES
from imagen_ui.replicate.webhook_receiver import WebhookReceiver
from imagen_ui.replicate.webhook_signature import WebhookVerificationError

__all__ = [*_client_all, "TERMINAL_STATUSES", "TokenBucket", "WebhookReceiver", "WebhookVerificationError"]
