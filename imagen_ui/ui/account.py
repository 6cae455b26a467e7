"""The visitor's own Replicate token (public mode): paste, check whose it is, remember if asked, forget.

The token lives in the visitor's session (a server-side gr.State, from which /generate takes it) and
nowhere else: the box is emptied once it is checked. Only when the visitor ticks "Remember my token
on this device" does the browser keep something: a seal the server made (service.remember_token),
useless without the server's key and this browser's visitor id, in localStorage. Forget empties the
session, this browser's storage, and (through the service) every other device's seal and session.
"""

from __future__ import annotations

import html

import gradio as gr

from imagen_ui.service import (
    GenerationService,
    ReplicateError,
    token_refusal,
    visitor_id,
)

STORAGE_KEY = "imagen-ui-remembered-token"
# Where an earlier version kept the token itself (encrypted with a key the page's config carried).
OLD_STORAGE_KEY = "imagen-ui-visitor-token"

_READ = f"""(sealed) => {{
  localStorage.removeItem("{OLD_STORAGE_KEY}");
  return [localStorage.getItem("{STORAGE_KEY}") || ""];
}}"""
_KEEP = f"""(sealed) => {{
  if (sealed) localStorage.setItem("{STORAGE_KEY}", sealed); else localStorage.removeItem("{STORAGE_KEY}");
}}"""
_DROP = f"""() => {{ localStorage.removeItem("{STORAGE_KEY}"); localStorage.removeItem("{OLD_STORAGE_KEY}"); }}"""


def build(demo: gr.Blocks, service: GenerationService, *, offline: bool = False) -> gr.State:
    """The token panel; returns the session State holding the checked token (or None). `offline`:
    the host set no token and images are the built-in emulator's placeholders."""
    own_token = gr.State(None)
    with gr.Accordion("Use your own Replicate token", open=False, elem_id="own-token"):
        # Said as it is: only a host with a token pays for anything.
        gr.Markdown(_situation(service.has_token, offline)
                    + " It is used only for your requests, and kept only for this visit unless you tick "
                    "*Remember*.")
        with gr.Row():
            box = gr.Textbox(type="password", show_label=False, placeholder="r8_…", scale=4,
                             elem_id="own-token-box", max_length=256)
            check = gr.Button("Check", scale=1, elem_id="own-token-check")
            forget = gr.Button("Forget", scale=1, elem_id="own-token-forget")
        remember = gr.Checkbox(False, label="Remember my token on this device",
                               info="Only on a computer and browser that are yours alone: the next person "
                                    "using this browser would pay with your token.",
                               elem_id="own-token-remember")
        whose = gr.Markdown(elem_id="own-token-status")
        sealed = gr.Textbox(visible=False, elem_id="own-token-seal")  # to and from localStorage only

    async def use(token: str | None, keep: bool, request: gr.Request):
        token = (token or "").strip()
        if not token:
            return {own_token: None, whose: "", box: ""}
        try:
            user = await service.check_token(token)
        except ReplicateError as error:
            service.discard_token(token)
            return {own_token: None, whose: token_refusal(error), box: ""}
        seal = service.remember_token(token, visitor_id(request)) if keep else ""
        kept = " It is remembered on this device until you press Forget." if seal else ""
        return {own_token: token, box: "", sealed: seal,
                whose: f"Using your token (Replicate account **{html.escape(user)}**): no limit applies.{kept}"}

    check.click(use, inputs=[box, remember], outputs=[own_token, whose, box, sealed],
                api_visibility="private").then(None, inputs=sealed, js=_KEEP, api_visibility="private")

    async def recall(seal: str | None, request: gr.Request):
        token = service.recall_token(seal, visitor_id(request))
        if token is None:
            return {own_token: None, remember: False}
        try:
            user = await service.check_token(token)
        except ReplicateError as error:
            service.discard_token(token)
            return {own_token: None, whose: token_refusal(error), remember: False}
        return {own_token: token, remember: True,
                whose: f"Using your remembered token (Replicate account **{html.escape(user)}**): no limit "
                       "applies. Press Forget to remove it from this device."}

    # A returning visitor's seal (if they asked to be remembered) is opened and checked again.
    demo.load(recall, inputs=sealed, outputs=[own_token, whose, remember], js=_READ, api_visibility="private")

    def drop(token: str | None):
        if not token:
            return {own_token: None, box: "", remember: False, sealed: "",
                    whose: "No token was in use or remembered here: there was nothing to forget."}
        service.forget_token(token)
        after = ("the host's limits apply again." if service.has_token else
                 "images are offline placeholders again." if offline else "images need a token again.")
        return {own_token: None, box: "", remember: False, sealed: "",
                whose: f"Your token was forgotten here and on every device that remembered it; {after}"}

    forget.click(drop, inputs=own_token, outputs=[own_token, whose, box, remember, sealed],
                 api_visibility="private")
    forget.click(None, js=_DROP, api_visibility="private")
    return own_token


def _situation(host_pays: bool, offline: bool) -> str:
    link = "https://replicate.com/account/api-tokens"
    if host_pays:
        return (f"Images on this public demo are paid by its host and limited per visitor. Paste your own "
                f"token from {link} to pay for your own images, with no limit.")
    if offline:
        return (f"This demo's host set no Replicate token, so images here are offline placeholders. Paste "
                f"your own token from {link} to make real images, paid by your account.")
    return f"This demo's host set no Replicate token: paste your own from {link} to make images, paid by you."
