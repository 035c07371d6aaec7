"""The exception tree and map_exceptions()."""

from __future__ import annotations

import ssl

import pytest

import httpcore2
from httpcore2 import Request, Response
from httpcore2._exceptions import map_exceptions

# Each exception and its only base, as drawn in API.md.
TREE: dict[type[BaseException], type[BaseException]] = {
    httpcore2.HTTPError: Exception,
    httpcore2.TransportError: httpcore2.HTTPError,
    httpcore2.TimeoutException: httpcore2.TransportError,
    httpcore2.ConnectTimeout: httpcore2.TimeoutException,
    httpcore2.ReadTimeout: httpcore2.TimeoutException,
    httpcore2.WriteTimeout: httpcore2.TimeoutException,
    httpcore2.PoolTimeout: httpcore2.TimeoutException,
    httpcore2.TotalTimeout: httpcore2.TimeoutException,
    httpcore2.NetworkError: httpcore2.TransportError,
    httpcore2.ConnectError: httpcore2.NetworkError,
    httpcore2.ReadError: httpcore2.NetworkError,
    httpcore2.WriteError: httpcore2.NetworkError,
    httpcore2.CloseError: httpcore2.NetworkError,
    httpcore2.ProtocolError: httpcore2.TransportError,
    httpcore2.LocalProtocolError: httpcore2.ProtocolError,
    httpcore2.RemoteProtocolError: httpcore2.ProtocolError,
    httpcore2.ProxyError: httpcore2.TransportError,
    httpcore2.UnsupportedProtocol: httpcore2.TransportError,
    httpcore2.DecodingError: httpcore2.HTTPError,
    httpcore2.TooManyRedirects: httpcore2.HTTPError,
    httpcore2.HTTPStatusError: httpcore2.HTTPError,
    httpcore2.InvalidURL: ValueError,
    httpcore2.CookieConflict: Exception,
    httpcore2.StreamError: RuntimeError,
    httpcore2.StreamConsumed: httpcore2.StreamError,
    httpcore2.ResponseNotRead: httpcore2.StreamError,
    httpcore2.RequestNotRead: httpcore2.StreamError,
    httpcore2.StreamClosed: httpcore2.StreamError,
}

REQUEST = Request("GET", "http://127.0.0.1/")


@pytest.mark.parametrize(("exc", "base"), TREE.items(), ids=lambda e: getattr(e, "__name__", ""))
def test_each_exception_has_the_documented_single_base(
    exc: type[BaseException], base: type[BaseException]
) -> None:
    assert exc.__bases__ == (base,)


def test_the_tree_lists_every_exported_exception() -> None:
    exported = {
        obj
        for name in httpcore2.__all__
        if isinstance(obj := getattr(httpcore2, name), type) and issubclass(obj, BaseException)
    }
    assert exported == set(TREE)


def test_only_the_documented_exceptions_are_http_errors() -> None:
    http_errors = {exc for exc in TREE if issubclass(exc, httpcore2.HTTPError)}
    assert len(http_errors) == 21
    for exc in set(TREE) - http_errors:
        assert not issubclass(exc, httpcore2.HTTPError)
    assert issubclass(httpcore2.InvalidURL, ValueError)
    assert issubclass(httpcore2.ResponseNotRead, RuntimeError)


def test_request_is_unset_until_given() -> None:
    exc = httpcore2.ReadError("boom")
    assert str(exc) == "boom"
    with pytest.raises(RuntimeError, match="has not been set"):
        _ = exc.request
    exc.request = REQUEST
    assert exc.request is REQUEST
    assert httpcore2.ConnectError("boom", request=REQUEST).request is REQUEST


def test_http_status_error_carries_request_and_response() -> None:
    response = Response(404, request=REQUEST)
    exc = httpcore2.HTTPStatusError("Not Found", request=REQUEST, response=response)
    assert exc.request is REQUEST
    assert exc.response is response
    assert str(exc) == "Not Found"


# --- map_exceptions ----------------------------------------------------------------------


def test_nothing_happens_without_an_exception() -> None:
    with map_exceptions({OSError: httpcore2.ConnectError}, REQUEST):
        result = 42
    assert result == 42


def test_an_exception_is_mapped_with_its_cause_and_request() -> None:
    original = ConnectionRefusedError(111, "Connection refused")
    with pytest.raises(httpcore2.ConnectError) as info:
        with map_exceptions({OSError: httpcore2.ConnectError}, REQUEST):
            raise original
    assert info.value.__cause__ is original
    assert info.value.request is REQUEST
    assert str(info.value) == str(original)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (ConnectionRefusedError(), httpcore2.ConnectError),
        (ConnectionResetError(), httpcore2.ReadError),
        (TimeoutError(), httpcore2.ReadTimeout),
        (ssl.SSLCertVerificationError(), httpcore2.ConnectError),
        (ssl.SSLError(), httpcore2.ProtocolError),
        (OSError(), httpcore2.NetworkError),
    ],
)
def test_the_most_specific_mapping_wins_whatever_the_order(
    raised: Exception, expected: type[httpcore2.HTTPError]
) -> None:
    # Listed from most general to most specific, so dict order cannot be what decides.
    mapping: dict[type[BaseException], type[httpcore2.HTTPError]] = {
        OSError: httpcore2.NetworkError,
        ssl.SSLError: httpcore2.ProtocolError,
        ConnectionError: httpcore2.ReadError,
        ConnectionRefusedError: httpcore2.ConnectError,
        ssl.SSLCertVerificationError: httpcore2.ConnectError,
        TimeoutError: httpcore2.ReadTimeout,
    }
    with pytest.raises(httpcore2.HTTPError) as info:
        with map_exceptions(mapping, REQUEST):
            raise raised
    assert type(info.value) is expected
    assert info.value.__cause__ is raised


def test_an_empty_message_becomes_the_type_name() -> None:
    with pytest.raises(httpcore2.ReadTimeout, match=r"^TimeoutError$"):
        with map_exceptions({TimeoutError: httpcore2.ReadTimeout}):
            raise TimeoutError()


def test_without_a_request_the_mapped_error_has_none() -> None:
    with pytest.raises(httpcore2.ReadError) as info:
        with map_exceptions({OSError: httpcore2.ReadError}):
            raise OSError("boom")
    with pytest.raises(RuntimeError, match="has not been set"):
        _ = info.value.request


@pytest.mark.parametrize("raised", [ValueError("not mine"), KeyboardInterrupt()])
def test_unmapped_exceptions_pass_through_untouched(raised: BaseException) -> None:
    with pytest.raises(type(raised)) as info:
        with map_exceptions({OSError: httpcore2.ReadError}, REQUEST):
            raise raised
    assert info.value is raised
    assert info.value.__cause__ is None


def test_an_http_error_without_a_request_gets_one() -> None:
    error = httpcore2.RemoteProtocolError("bad framing")
    with pytest.raises(httpcore2.RemoteProtocolError) as info:
        with map_exceptions({Exception: httpcore2.ReadError}, REQUEST):
            raise error
    assert info.value is error
    assert error.request is REQUEST
    assert error.__cause__ is None


def test_an_http_error_keeps_its_own_request() -> None:
    own = Request("GET", "http://127.0.0.1/own")
    error = httpcore2.ReadError("boom", request=own)
    with pytest.raises(httpcore2.ReadError):
        with map_exceptions({}, REQUEST):
            raise error
    assert error.request is own


def test_an_http_error_is_left_alone_without_a_request() -> None:
    error = httpcore2.ReadError("boom")
    with pytest.raises(httpcore2.ReadError):
        with map_exceptions({}):
            raise error
    with pytest.raises(RuntimeError):
        _ = error.request
