"""The pool's count of new connections that took nothing (`_Retries`), on its own: a request
gives up after MAX_UNUSABLE_CONNECTIONS of them in a row, and the count starts again when
other requests to its origin were answered meanwhile (a reloading server's old workers
refuse new connections while its new ones answer)."""

from __future__ import annotations

import time
from types import ModuleType

import pytest

import httpcore2
from httpcore2._async import connection_pool as async_pool
from httpcore2._exceptions import StreamRefused
from httpcore2._sync import connection_pool as sync_pool

KEY = (b"https", b"example.org", 443, None, None)


class TookNothing:
    """A new HTTP/2 connection that answered nothing, for anyone."""

    def took_requests(self) -> bool:
        return False


@pytest.mark.case("F20")
@pytest.mark.parametrize("module", [async_pool, sync_pool], ids=["async", "sync"])
def test_unusable_connections_are_counted_again_once_the_origin_answered_others(
    module: ModuleType,
) -> None:
    answered: dict[object, int] = {}
    retries = module._Retries(time.monotonic() + 60, answered, KEY)
    request = httpcore2.Request("GET", "https://example.org/")
    refused = StreamRefused("The server refused stream 1.")
    limit = module.MAX_UNUSABLE_CONNECTIONS
    for _ in range(limit - 1):
        assert retries.again(refused, request, TookNothing(), False)
    answered[KEY] = 1  # another request to the origin got its answer
    for _ in range(limit - 1):
        assert retries.again(refused, request, TookNothing(), False)
    with pytest.raises(httpcore2.RemoteProtocolError, match=f"no request on {limit} new"):
        retries.again(refused, request, TookNothing(), False)
