"""ReplicateClient's Files API against the emulator: upload, get, delete, retries, the 413, the token."""

from __future__ import annotations

import hashlib
import logging

import pytest
from client_helpers import client_for, image_bytes

from imagen_ui.replicate import (
    NotFoundError,
    PayloadTooLargeError,
    UnauthenticatedError,
    UploadedFile,
)

pytestmark = pytest.mark.anyio
TOKEN = "r8_FILEStoken_must_never_leak_42"


async def test_upload_get_and_delete(emulator) -> None:
    data = image_bytes("PNG", (320, 200))
    async with client_for(emulator, token=TOKEN) as client:
        uploaded = await client.upload_file(data, filename="cat.png", content_type="image/png",
                                            metadata={"click": 1})
        assert isinstance(uploaded, UploadedFile)
        assert uploaded.url == f"{emulator.base_url}/v1/files/{uploaded.id}"
        assert (uploaded.name, uploaded.content_type, uploaded.size) == ("cat.png", "image/png", len(data))
        assert uploaded.sha256 == hashlib.sha256(data).hexdigest() and uploaded.expires_at
        assert emulator.file_bytes(uploaded.id) == data
        assert (await client.get_file(uploaded.id)).url == uploaded.url
        await client.delete_file(uploaded.id)
        with pytest.raises(NotFoundError):
            await client.get_file(uploaded.id)
        assert client.calls["upload"] == 1 and client.calls["delete_file"] == 1
    [upload] = [r for r in emulator.requests if r.path == "/v1/files"]
    assert upload.headers["authorization"] == f"Bearer {TOKEN}"  # the token that pays for the prediction
    assert upload.headers["content-type"].startswith("multipart/form-data")
    assert emulator.files() == []


async def test_an_upload_is_retried_when_throttled(emulator) -> None:
    emulator.inject_fault("POST", "/v1/files", 429, times=1)
    async with client_for(emulator) as client:
        uploaded = await client.upload_file(b"\x89PNG\r\n\x1a\n", filename="a.png", content_type="image/png")
        assert client.calls["upload"] == 2
    assert [f["id"] for f in emulator.files()] == [uploaded.id]


async def test_a_file_of_100_mb_is_refused_typed(emulator) -> None:
    async with client_for(emulator) as client:
        with pytest.raises(PayloadTooLargeError) as caught:
            await client.upload_file(b"\0" * (100 * 1024 * 1024), filename="big.png", content_type="image/png")
    assert caught.value.status == 413 and "less than 100MB" in str(caught.value)
    assert emulator.files() == []


async def test_a_bad_token_is_typed_and_never_shown(make_emulator, caplog) -> None:
    emulator = make_emulator(token="r8_the-right-one")
    caplog.set_level(logging.DEBUG)
    async with client_for(emulator, token=TOKEN) as client:
        with pytest.raises(UnauthenticatedError) as caught:
            await client.upload_file(b"x", filename="a.png", content_type="image/png")
    assert TOKEN not in repr(caught.value) and TOKEN not in str(caught.value)
    assert TOKEN not in caplog.text
