"""The page: Gradio Blocks, layout and wiring only (no HTTP, no SQL, no file formats).

    page          build(): the Generate, Compare and History tabs put together, LAUNCH_OPTIONS
    form          a model's controls from its schema, keyed by input name
    session       who a request comes from; a generation streamed into gallery + status
    status_lines  a click's per-image status as Markdown
    tiles         a click's gallery: a numbered tile per image, placeholder until stored
    history_tab   the History tab
    compare_tab   the Compare tab
    account       a visitor's own Replicate token (public mode)
    batch_tab     Batch mode on the Generate tab: many prompts, one model and its settings
    mcp_tools     the MCP tools (--mcp): list_models, generate_image, search_history
    snippets      "Use via API": Python, JavaScript and curl for the current form
    assets        the page's JavaScript and CSS

Only `imagen_ui.bootstrap` imports this package; it talks to the app through `imagen_ui.service`.
"""

from imagen_ui.ui.mcp_tools import TOOLS as MCP_TOOLS
from imagen_ui.ui.page import LAUNCH_OPTIONS, build
from imagen_ui.ui.tiles import TILE_DIR

__all__ = ["LAUNCH_OPTIONS", "MCP_TOOLS", "TILE_DIR", "build"]
