"""The service layer: the one orchestrator between the page and everything behind it.

    generation      GenerationService: validate -> N predictions -> download -> store -> snapshots
    image_count     a click's image count and seeds as predictions (the model's own count input)
    batch_input     a batch's prompts from pasted text or a .txt/.csv file, checked by line (pure)
    batch           BatchService: a batch's prompts paced through GenerationService; its zip
    assistant       what the MCP tools do: describe models, generate, search history
    messages        the one place typed errors become a person's words
    catalog_loader  the offered models' schemas fetched at start-up

The page imports only this package (and the pure modules): what it needs of the layers below
(a history entry, a refused quota, who a request comes from) is named here.
"""

from imagen_ui.public import (
    SET_COOKIE_JS,
    BudgetSpent,
    QuotaExceeded,
    token_owner,
    visitor_id,
    visitor_keys,
)
from imagen_ui.public.remembered_tokens import TokenForgotten
from imagen_ui.replicate import ReplicateError
from imagen_ui.service.generation import (
    GenerationService,
    HistoryPage,
    ImageSlot,
    Restored,
    ShuttingDown,
    Snapshot,
    Viewer,
    Visitor,
)
from imagen_ui.service.batch import Batch, BatchItem, BatchRefused, BatchService, BatchSnapshot
from imagen_ui.service.image_count import SEED_INPUT, count_input
from imagen_ui.service.messages import token_refusal
from imagen_ui.store import Entry

__all__ = ["SEED_INPUT", "SET_COOKIE_JS", "Batch", "BatchItem", "BatchRefused", "BatchService", "BatchSnapshot",
           "BudgetSpent", "Entry", "GenerationService", "HistoryPage", "ImageSlot", "QuotaExceeded", "ReplicateError",
           "Restored", "ShuttingDown", "Snapshot", "TokenForgotten", "Viewer", "Visitor", "count_input",
           "token_owner", "token_refusal", "visitor_id", "visitor_keys"]
