"""Router: a `MockTransport` handler that answers by method and URL and records the calls."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from ._logging import safe_url
from ._models import Request, Response

__all__ = ["MockHandler", "Route", "Router", "SyncMockHandler"]

# What `MockTransport` and `SyncMockTransport` call with each request.
MockHandler = Callable[[Request], Response | Awaitable[Response]]
SyncMockHandler = Callable[[Request], Response]

RouteAnswer = Response | Callable[[Request], Response]


class Route:
    """One route of a `Router`: what it matches, how it answers, the requests it got."""

    def __init__(self, method: str | None, url: str | re.Pattern[str], answer: RouteAnswer) -> None:
        if isinstance(answer, Response) and answer._raw is None:
            raise TypeError(
                "A route's canned response needs its body as bytes (it is copied for each "
                "call); to stream a body, give a function that builds the response."
            )
        self.method = None if method is None else method.upper()
        self.url = url
        self.answer = answer
        self.calls: list[Request] = []
        if isinstance(url, str):
            # `*` matches any run of characters; everything else is literal (`?` too).
            url = re.compile(".*".join(re.escape(part) for part in url.split("*")))
        self._pattern = url

    @property
    def called(self) -> bool:
        """Whether the route answered at least one request."""
        return bool(self.calls)

    def matches(self, request: Request) -> bool:
        """Whether the request's method and URL match the route."""
        if self.method is not None and request.method != self.method:
            return False
        url = request.url
        text = url.full_path if isinstance(self.url, str) and self.url[:1] == "/" else safe_url(url)
        return self._pattern.fullmatch(text) is not None

    def respond(self, request: Request) -> Response:
        """Record the request, and answer: a copy of the canned response, or the function's."""
        self.calls.append(request)
        answer = self.answer
        if isinstance(answer, Response):
            return Response(
                answer.status,
                headers=answer.headers.copy(),
                content=answer._raw,
                extensions=dict(answer.extensions),
            )
        return answer(request)

    def __repr__(self) -> str:
        return f"<Route {self.method or '*'} {self.url!r} calls={len(self.calls)}>"


class Router:
    """A handler for `MockTransport` / `SyncMockTransport`: the first matching route answers.

    ```python
    router = Router()
    users = router.route("GET", "https://api.example.org/users*", Response(200, content=b"[]"))
    router.route("POST", "/users", lambda request: Response(201, content=request.content))
    with SyncClient(transport=SyncMockTransport(router)) as client:
        client.get("https://api.example.org/users?page=2")
    assert users.called and router.calls[0].url.params["page"] == "2"
    ```

    A URL pattern is a string, compared whole with the request's URL (normalised: lower
    case scheme and host, no default port, no `user:password@`), or with its path and query
    when it starts with `/`; in it `*` matches anything. A compiled regular expression
    must match the whole URL. `method=None` matches every method. A request no route matches raises
    `LookupError`, so that a test cannot pass by accident.
    """

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.calls: list[Request] = []

    def route(self, method: str | None, url: str | re.Pattern[str], answer: RouteAnswer) -> Route:
        """Add a route: a canned `Response` (copied per call), or a function of the request."""
        route = Route(method, url, answer)
        self.routes.append(route)
        return route

    def __call__(self, request: Request) -> Response:
        self.calls.append(request)
        for route in self.routes:
            if route.matches(request):
                return route.respond(request)
        raise LookupError(f"No route matches {request.method} {safe_url(request.url)}")
