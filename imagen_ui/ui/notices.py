"""Every message the page shows in a toast (gr.Error, gr.Warning, gr.Info), and text for Markdown, as
text: Gradio renders a toast's message as HTML and a Markdown component as Markdown, so a value quoted
back (from a crafted image, an API call, Replicate's own error) could load a remote image or show a
link. Everything shown here is escaped first; nothing else on the page raises or shows them."""

from __future__ import annotations

import html
import re

import gradio as gr

_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def as_text(message: object) -> str:
    """A message, HTML-escaped, for a toast."""
    return html.escape(str(message), quote=False)


def as_markdown_text(message: object) -> str:
    """A message as literal text inside Markdown: HTML escaped, Markdown punctuation backslashed."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", as_text(message))


def error(message: object, *, title: str = "Error") -> gr.Error:
    """The gr.Error to raise (escaped; no traceback in the host's log: it is the visitor's problem)."""
    return gr.Error(as_text(message), title=title, print_exception=False)


def warn(message: object) -> None:
    gr.Warning(as_text(message))


def info(message: object) -> None:
    gr.Info(as_text(message))
