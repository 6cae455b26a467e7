"""The visitor's own Replicate token (public mode): paste, check whose it is, forget.

The token stays in that visitor's browser (Gradio's encrypted BrowserState, copied there by
client-side JS so no server answer ever carries it) and in their session's server-side gr.State,
from which /generate takes it. It is never shown, logged or stored anywhere else.
"""

from __future__ import annotations

import html
import secrets
from pathlib import Path

import gradio as gr

from imagen_ui.service import GenerationService, ReplicateError, token_refusal

SECRET_FILE = ".browser-state-secret"


def build(demo: gr.Blocks, service: GenerationService, secret_dir: Path) -> gr.State:
    """The token panel; returns the session State holding the checked token (or None)."""
    stored = gr.BrowserState(None, storage_key="imagen-ui-visitor-token", secret=_secret(secret_dir))
    own_token = gr.State(None)
    with gr.Accordion("Use your own Replicate token", open=False, elem_id="own-token"):
        gr.Markdown(
            "Images on this public demo are paid by its host and limited per visitor. Paste your own "
            "token from https://replicate.com/account/api-tokens to pay for your own images, with no "
            "limit. It stays in this browser and is used only for your requests."
        )
        with gr.Row():
            box = gr.Textbox(type="password", show_label=False, placeholder="r8_…", scale=4,
                             elem_id="own-token-box", max_length=200)
            check = gr.Button("Check", scale=1, elem_id="own-token-check")
            forget = gr.Button("Forget", scale=1, elem_id="own-token-forget")
        whose = gr.Markdown(elem_id="own-token-status")

    async def use(token: str | None):
        token = (token or "").strip()
        if not token:
            return None, ""
        try:
            user = await service.check_token(token)
        except ReplicateError as error:
            service.forget_token(token)
            return None, token_refusal(error)
        return token, f"Using your token (Replicate account **{html.escape(user)}**): no limit applies."

    check.click(use, inputs=box, outputs=[own_token, whose], api_visibility="private")
    # Client side only: the browser keeps its own copy for the next visit.
    check.click(None, inputs=box, outputs=stored, js="(token) => token", api_visibility="private")
    # A returning visitor's stored token is checked again and used for this session.
    demo.load(use, inputs=stored, outputs=[own_token, whose], api_visibility="private")

    def drop(token: str | None):
        service.forget_token(token)
        return None, "Your token was forgotten; the host's limits apply again."

    forget.click(drop, inputs=own_token, outputs=[own_token, whose], api_visibility="private")
    forget.click(None, outputs=[stored, box], js="() => [null, '']", api_visibility="private")
    return own_token


def _secret(directory: Path) -> str:
    """A stable key for BrowserState, so a restart can still read what browsers stored."""
    path = Path(directory) / SECRET_FILE
    try:
        return path.read_text().strip() or _new_secret(path)
    except FileNotFoundError:
        return _new_secret(path)


def _new_secret(path: Path) -> str:
    value = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(value)
    tmp.chmod(0o600)
    tmp.replace(path)
    return value
