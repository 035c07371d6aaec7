"""What the command line client shows: the response, the verbose trace, the progress bar.

On a terminal the status line, headers and JSON bodies are coloured and a download draws a
progress bar, when `rich` (the `cli` extra) is installed; without it, or when the output is
piped, everything is plain text and a piped body is written byte for byte as it arrived
(decompressed).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

from ._models import Headers, Request, Response

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Output", "Trace"]

# Shown instead of the control characters of a text body, which could drive the terminal.
_CONTROLS = {
    code: "\N{REPLACEMENT CHARACTER}" for code in [*range(32), 127] if code not in b"\t\n\r"
}
_HIDDEN_HEADERS = frozenset({"authorization", "proxy-authorization"})
_TEXT_TYPES = ("text/", "xml", "javascript", "x-www-form-urlencoded")


def _rich_console(stream: TextIO) -> Console | None:
    """A rich console on `stream`, or None when rich is not installed."""
    try:
        from rich.console import Console
    except ImportError:
        return None
    return Console(file=stream, highlight=False, soft_wrap=True)


class Output:
    """The CLI's two streams: the response on stdout, diagnostics on stderr."""

    def __init__(self, stdout: TextIO, stderr: TextIO) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self._terminal = stdout.isatty()
        self._console = _rich_console(stdout) if self._terminal else None

    def error(self, message: str) -> None:
        """One line on stderr."""
        self.note(f"httpcore2: error: {' '.join(message.split())}")

    def note(self, message: str) -> None:
        """A line of information on stderr, which never mixes with the response."""
        self.stdout.flush()
        self.stderr.write(message + "\n")
        self.stderr.flush()

    def silence_stdout(self) -> None:
        """Point stdout at /dev/null, so that flushing it at exit cannot fail again."""
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self.stdout.fileno())
        os.close(devnull)

    def head(self, response: Response) -> None:
        """The status line and the headers, then a blank line."""
        status = _status_line(response)
        headers = _header_pairs(response.headers)
        if self._console is None:
            lines = [status, *(f"{name}: {value}" for name, value in headers), ""]
            self.stdout.write("\n".join(lines) + "\n")
            self.stdout.flush()  # shown before a long body or download starts
            return
        from rich.text import Text

        colour = "green" if response.status < 300 else "yellow" if response.status < 400 else "red"
        self._console.print(Text(status, style=f"bold {colour}"))
        for name, value in headers:
            self._console.print(Text.assemble((name, "cyan"), ": ", value))
        self._console.print()

    def body(self, response: Response) -> None:
        """The body: as it arrived when piped; pretty, and never binary, on a terminal."""
        if not self._terminal:
            self.stdout.flush()
            for chunk in response.iter_stream():
                self.stdout.buffer.write(chunk)
            self.stdout.buffer.flush()
            return
        content = response.read()
        if not content:
            return
        media_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
        if _is_binary(media_type, content):
            self.stdout.write(
                f"[binary body: {len(content):,} bytes not shown on a terminal; "
                "use --download FILE, or pipe the output]\n"
            )
            return
        text = response.text
        if "json" in media_type:
            try:
                data = json.loads(text)
            except ValueError:
                pass
            else:
                self._json(data)
                return
        text = text.translate(_CONTROLS)
        self.stdout.write(text if text.endswith("\n") else text + "\n")

    def _json(self, data: object) -> None:
        if self._console is None:
            self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
            return
        from rich.json import JSON

        self._console.print(JSON.from_data(data, indent=2, ensure_ascii=False))

    @contextlib.contextmanager
    def progress(self, response: Response) -> Iterator[Callable[[int], None]]:
        """A progress bar on a terminal's stderr, moved on by calling `advance(bytes_so_far)`.

        With the size known it shows the bar, the size, the rate and the time left; with the
        size unknown (no `Content-Length`, or a compressed body) a spinner, the bytes and the rate.
        """
        console = _rich_console(self.stderr) if self.stderr.isatty() else None
        if console is None:
            yield lambda done: None
            return
        from rich import progress

        total = _decoded_length(response)
        columns: list[progress.ProgressColumn] = (
            [progress.SpinnerColumn()] if total is None else [progress.BarColumn()]
        )
        columns += [progress.DownloadColumn(), progress.TransferSpeedColumn()]
        if total is not None:
            columns.append(progress.TimeRemainingColumn())
        with progress.Progress(*columns, console=console) as bar:
            task = bar.add_task("download", total=total)
            yield lambda done: bar.update(task, completed=done)


def _status_line(response: Response) -> str:
    return f"{response.protocol} {response.status} {response.reason_phrase}".rstrip()


def _header_pairs(headers: Headers) -> list[tuple[str, str]]:
    """The headers in wire order and as written, as text."""
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]


def _is_binary(media_type: str, content: bytes) -> bool:
    if media_type:
        return "json" not in media_type and not any(kind in media_type for kind in _TEXT_TYPES)
    return b"\x00" in content[:1024]


def _decoded_length(response: Response) -> int | None:
    """The size of the body as it will be saved, if the headers tell it."""
    length = response.headers.get("content-length")
    if length is None or "content-encoding" in response.headers or not length.isdigit():
        return None
    return int(length)


def _address(address: Any) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Trace:
    """The `trace` request extension of the CLI, and the `-v` report built from its events.

    Each hop of a redirect chain is reported once its response head is in: the connection
    (opened for it, or reused), the request as sent, the response head, and its timings.
    """

    def __init__(self, output: Output | None, *, all_events: bool = False) -> None:
        self._output = output
        self._all_events = all_events
        self._events: list[tuple[float, str, dict[str, Any]]] = []
        self._started: float | None = None
        self._hop_started = 0.0
        self._hops = 0

    def __call__(self, name: str, info: dict[str, Any]) -> None:
        if self._output is None:
            return
        # The stream is read now: by the end of the hop it may be closed or wrapped in TLS.
        stream = info.get("stream")
        facts = {key: value for key, value in info.items() if key != "stream"}
        if name == "connection.connect_tcp.complete" and stream is not None:
            facts["address"] = _address(stream.get_extra_info("server_addr"))
        elif name == "connection.start_tls.complete" and stream is not None:
            tls = stream.get_extra_info("ssl_object")
            facts.update(version=tls.version(), cipher=tls.cipher()[0])
            facts["alpn"] = tls.selected_alpn_protocol() or "none"
        self._events.append((time.perf_counter(), name, facts))

    def start_hop(self, redirect: Response | None = None) -> None:
        """Mark the start of a request; `redirect` is the response that led to it."""
        if self._output is None:
            return
        if redirect is not None:
            location = redirect.headers.get("location")
            self._line("*", f"following the {redirect.status} redirect to {location}")
        self._events.clear()
        self._hop_started = time.perf_counter()
        if self._started is None:
            self._started = self._hop_started

    def end_hop(self, response: Response) -> None:
        """Report the hop, now that the response head is in."""
        if self._output is None:
            return
        first_byte = time.perf_counter() - self._hop_started
        self._hops += 1
        events = {name: (at, facts) for at, name, facts in self._events}
        timings = []
        connected = events.get("connection.connect_tcp.complete")
        if connected is None:
            self._line("*", "reusing a connection")
        else:
            self._line("*", f"connected to {connected[1]['address']}")
            timings.append(("connect", self._span(events, "connection.connect_tcp")))
        tls = events.get("connection.start_tls.complete")
        if tls is not None:
            self._line("*", "TLS {version}, cipher {cipher}, ALPN {alpn}".format(**tls[1]))
            timings.append(("TLS", self._span(events, "connection.start_tls")))
        self._request(response.request, response.protocol)
        self._line("<", _status_line(response))
        for name, value in _header_pairs(response.headers):
            self._line("<", f"{name}: {value}")
        self._line("<", "")
        if self._all_events:
            for at, event, _ in self._events:
                self._line("*", f"+{_ms(at - self._hop_started)} {event}")
        timings.append(("first byte", first_byte))
        self._line("*", ", ".join(f"{label} {_ms(seconds)}" for label, seconds in timings))

    def finish(self) -> None:
        """Report the total time, body included."""
        if self._output is None or self._started is None:
            return
        total = time.perf_counter() - self._started
        requests = f" ({self._hops} requests)" if self._hops > 1 else ""
        self._line("*", f"total {_ms(total)}{requests}")

    def _span(self, events: dict[str, tuple[float, dict[str, Any]]], step: str) -> float:
        return events[f"{step}.complete"][0] - events[f"{step}.started"][0]

    def _request(self, request: Request, protocol: str) -> None:
        self._line(">", f"{request.method} {request.url.raw.target.decode('ascii')} {protocol}")
        for name, value in _header_pairs(request.headers):
            if name.lower() in _HIDDEN_HEADERS:
                value = value.partition(" ")[0] + " [hidden]"
            self._line(">", f"{name}: {value}")
        self._line(">", "")

    def _line(self, prefix: str, text: str) -> None:
        assert self._output is not None
        self._output.note(f"{prefix} {text}".rstrip())


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
