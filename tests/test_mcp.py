"""The playground as an MCP server (`--mcp`), driven by the real `mcp` SDK client over Gradio's
streamable HTTP transport on loopback, against the emulator."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from playground import serve

from imagen_ui.settings import load_settings

pytestmark = pytest.mark.anyio
VISITOR = "imagen_ui_visitor=cccccccc-3333-4333-8333-cccccccccccc"


async def call(url: str, tool: str | None = None, arguments: dict | None = None, headers: dict | None = None):
    """(tool names, the call's result) over one MCP session."""
    async with httpx.AsyncClient(headers=headers or {}, timeout=60) as http, \
            streamable_http_client(url + "gradio_api/mcp/", http_client=http) as (read, write, _), \
            ClientSession(read, write) as session:
        await session.initialize()
        tools = await session.list_tools()
        result = await session.call_tool(tool, arguments or {}) if tool else None
        return tools, result


def texts(result) -> list[str]:
    return [item.text for item in result.content if item.type == "text"]


@pytest.fixture
def emulator(make_emulator):
    return make_emulator(latency=0.05, token="host-token")


def test_mcp_flag_and_environment_variable():
    assert load_settings(["--mcp"], environ={}, dotenv_path=None).mcp is True
    assert load_settings([], environ={"IMAGEN_UI_MCP": "true"}, dotenv_path=None).mcp is True
    assert load_settings([], environ={}, dotenv_path=None).mcp is False
    with pytest.raises(ValueError):
        load_settings([], environ={"IMAGEN_UI_MCP": "perhaps"}, dotenv_path=None)


async def test_an_assistant_lists_the_tools_generates_and_finds_the_image_in_history(emulator, tmp_path):
    with serve(tmp_path / "o", api_base=emulator.base_url, token="host-token", mcp=True) as (app, url):
        tools, _ = await call(url)
        by_name = {tool.name: tool for tool in tools.tools}
        assert set(by_name) == {"list_models", "generate_image", "search_history"}
        generate = by_name["generate_image"]
        assert {"prompt", "model", "inputs", "num_images"} <= set(generate.inputSchema["properties"])
        assert "search_history" in generate.description
        assert "aspect_ratio" in generate.inputSchema["properties"]["inputs"]["description"]

        _, listed = await call(url, "list_models")
        models = json.loads(texts(listed)[0])
        fast = next(m for m in models if m["model"] == "google/imagen-4-fast")
        assert fast["default"] and any(i["name"] == "aspect_ratio" and "16:9" in i["choices"]
                                       for i in fast["inputs"])

        _, made = await call(url, "generate_image", {
            "prompt": "a lighthouse drawn by an assistant", "inputs": {"aspect_ratio": "16:9"}, "num_images": 2})
        assert not made.isError, texts(made)
        summary = json.loads(texts(made)[0])
        assert len(summary["images"]) == 2
        images = [item for item in made.content if item.type == "image"]
        assert len(images) == 2 and images[0].mimeType == "image/jpeg"
        for image in summary["images"]:
            entry = app.service.history.get(image["history_id"])
            assert entry is not None and entry.prompt == "a lighthouse drawn by an assistant"
            assert entry.inputs["aspect_ratio"] == "16:9" and (entry.width, entry.height) == (1408, 768)
            assert image["prediction_id"] == entry.prediction_id
            served = httpx.get(image["url"])  # the original file, byte for byte
            assert served.status_code == 200 and served.content == entry.path.read_bytes()
        assert base64.b64decode(images[0].data)[:2] == b"\xff\xd8"
        assert len(emulator.predictions()) == 2

        _, found = await call(url, "search_history", {"query": "LIGHTHOUSE", "limit": 5})
        hits = json.loads(texts(found)[0])
        assert {h["history_id"] for h in hits} == {i["history_id"] for i in summary["images"]}


async def test_errors_come_back_in_words_and_nothing_is_sent(emulator, tmp_path):
    with serve(tmp_path / "o", api_base=emulator.base_url, token="host-token", mcp=True) as (_, url):
        _, bad = await call(url, "generate_image", {"prompt": "x", "inputs": {"aspect_ratio": "7:5"}})
        assert bad.isError and "Aspect ratio must be one of" in " ".join(texts(bad))
        _, unknown = await call(url, "generate_image", {"prompt": "x", "model": "someone/else"})
        assert unknown.isError and "does not offer the model" in " ".join(texts(unknown))
        _, twice = await call(url, "generate_image", {"prompt": "x", "inputs": {"prompt": "y"}})
        assert twice.isError and texts(twice) == ["Give the prompt once: as prompt, not inside inputs."]
        assert emulator.predictions() == []
        _, flagged = await call(url, "generate_image", {"prompt": "FLAGGED content"})
        assert flagged.isError and "safety" in " ".join(texts(flagged)).lower()


async def test_the_page_endpoints_are_not_tools_an_assistant_can_call(emulator, tmp_path):
    with serve(tmp_path / "o", api_base=emulator.base_url, token="host-token", mcp=True) as (_, url):
        # Gradio would name the Compare tab's endpoint "compare" (its function's name) and call it
        # through its one shared loopback client, where every caller is the same visitor.
        _, relayed = await call(url, "compare", {"prompt": "through the shared relay",
                                                 "models": ["google/imagen-4-fast"], "aspect_ratio": "1:1"})
        assert relayed.isError and "Unknown tool" in " ".join(texts(relayed))
        assert emulator.predictions() == []


async def test_public_mode_quota_own_token_and_private_history(emulator, tmp_path):
    with serve(tmp_path / "o", api_base=emulator.base_url, token="host-token", mcp=True, public=True,
               offline=False, quota_images_per_hour=2, quota_concurrent=1) as (_, url):
        visitor = {"cookie": VISITOR}
        _, first = await call(url, "generate_image", {"prompt": "mine", "num_images": 2}, visitor)
        assert not first.isError
        _, refused = await call(url, "generate_image", {"prompt": "more"}, visitor)
        assert refused.isError and "limit" in " ".join(texts(refused)) and "own Replicate token" in " ".join(texts(refused))
        assert len(emulator.predictions()) == 2
        other = {"cookie": VISITOR.replace("c", "d")}
        # The visitor's own token pays and lifts the quota; a wrong one is refused in words.
        _, wrong = await call(url, "generate_image", {"prompt": "theirs"},
                              {**other, "x-replicate-api-token": "r8_wrong_token_value"})
        said = " ".join(texts(wrong))
        assert wrong.isError and "token" in said and "r8_wrong_token_value" not in said
        _, paid = await call(url, "generate_image", {"prompt": "theirs", "num_images": 3},
                             {**other, "x-replicate-api-token": "host-token"})
        assert not paid.isError and "host-token" not in json.dumps([t for t in texts(paid)])
        # Each sees only their own images; without any id the search says how to get one.
        _, mine = await call(url, "search_history", {}, visitor)
        assert {h["prompt"] for h in json.loads(texts(mine)[0])} == {"mine"}
        _, theirs = await call(url, "search_history", {}, other)
        assert {h["prompt"] for h in json.loads(texts(theirs)[0])} == {"theirs"}
        assert all("file" not in h for h in json.loads(texts(theirs)[0]))  # no server paths in public
        _, nobody = await call(url, "search_history", {})
        assert nobody.isError and "Cookie: imagen_ui_visitor=" in " ".join(texts(nobody))

