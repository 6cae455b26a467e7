"""The service's clients for visitors' own tokens: one per token, bounded, the evicted ones closed."""

from __future__ import annotations

import pytest
from conftest import free_port, wait_until_async

from imagen_ui.service.generation import VisitorClients

pytestmark = pytest.mark.anyio


def closed(client) -> bool:
    return client._http.is_closed


async def test_one_client_per_token_least_recently_used_out_and_closed() -> None:
    clients = VisitorClients(f"http://127.0.0.1:{free_port()}", capacity=2)
    a, b = clients.get("r8_a"), clients.get("r8_b")
    assert clients.get("r8_a") is a  # the same client again: a is now the most recent
    c = clients.get("r8_c")  # over capacity: b, the least recently used, goes
    await wait_until_async(lambda: closed(b), message="the evicted client was not closed")
    assert not closed(a) and not closed(c)
    assert clients.get("r8_a") is a and clients.get("r8_c") is c
    again = clients.get("r8_b")
    assert again is not b and not closed(again)  # a new one: the evicted one stays closed
    await wait_until_async(lambda: closed(a), message="a, now the least recent, was not closed")
    clients.forget("r8_c")
    await wait_until_async(lambda: closed(c))
    await clients.aclose()
    assert closed(again)
