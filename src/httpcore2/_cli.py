"""The command line client: `httpcore2 URL [options]`, also `python -m httpcore2`.

Parsing and the exchange live here; what the user sees (colour, JSON, the progress bar, the
verbose trace) lives in `_cli_output.py`. It is built on `SyncClient` and needs nothing beyond
the runtime dependencies; `rich` (the `cli` extra) adds colour and the progress bar.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

from ._cli_output import Output, Trace
from ._exceptions import HTTPError, StreamError, TimeoutException, TooManyRedirects
from ._models import Request, Response
from ._sync.client import SyncClient

__all__ = ["main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NETWORK = 3
EXIT_TIMEOUT = 4
EXIT_STATUS = 5
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

MAX_REDIRECTS = 20

_EPILOG = f"""\
exit status:
  {EXIT_OK}    success; also for a 4xx or 5xx answer, unless --raise or --download
  {EXIT_ERROR}    a local error: the download could not be written
  {EXIT_USAGE}    usage error: a bad option or value, a file that cannot be read,
       a download that would overwrite a file
  {EXIT_NETWORK}    the exchange failed: connection, TLS, proxy or protocol error,
       too many redirects, a body that cannot be decoded
  {EXIT_TIMEOUT}    a timeout: connect, read, write or pool
  {EXIT_STATUS}    the server answered 4xx or 5xx (with --raise or --download)
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C); a partial download is removed unless --keep-partial
  {EXIT_BROKEN_PIPE}  the program reading the output went away (silently)

examples:
  httpcore2 https://example.org/
  httpcore2 https://example.org/api -m POST --json '{{"name": "widget"}}'
  httpcore2 https://example.org/big.iso --download big.iso
"""


class UsageError(Exception):
    """A bad command line, found before or while building the request."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, as for every other error; the usage is one `--help` away.
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `httpcore2` command."""
    parser = _Parser(
        prog="httpcore2",
        description="Send an HTTP request and show the response: status line, headers, body.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", metavar="URL", help="the URL to request (http or https)")
    parser.add_argument(
        "-m", "--method", help="the request method (default: GET, or POST with a body)"
    )
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a request header; repeat for more",
    )
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a query parameter added to the URL; repeat for more",
    )
    body = parser.add_mutually_exclusive_group()
    body.add_argument(
        "-d",
        "--data",
        action="append",
        metavar="DATA",
        help="the request body, sent as a form unless -H sets Content-Type; several are "
        "joined with '&'; @FILE reads a file, @- standard input",
    )
    body.add_argument(
        "--json", metavar="JSON", help="a JSON request body (checked); @FILE reads a file"
    )
    body.add_argument(
        "-f",
        "--form",
        action="append",
        metavar="NAME=VALUE",
        help="a multipart/form-data field; NAME=@FILE uploads a file; repeat for more",
    )
    parser.add_argument("--auth", metavar="USER:PASSWORD", help="HTTP Basic credentials")
    parser.add_argument("--http2", action="store_true", help="offer HTTP/2 (by ALPN on https)")
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument(
        "--no-verify", action="store_true", help="do not verify the server's TLS certificate"
    )
    tls.add_argument("--cacert", metavar="FILE", help="trust the CA certificates in FILE (PEM)")
    parser.add_argument("--proxy", metavar="URL", help="send the request through this proxy")
    parser.add_argument(
        "--follow",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"follow redirects (default: --follow, at most {MAX_REDIRECTS})",
    )
    parser.add_argument(
        "--timeout",
        type=_timeout,
        default=5.0,
        metavar="SECONDS",
        help="for each of connect, read, write and pool (default: 5; 0: none)",
    )
    parser.add_argument(
        "--download",
        metavar="FILE",
        help="save the body to FILE, with a progress bar on a terminal; "
        "an existing FILE is never overwritten (see --overwrite)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="with --download: replace FILE if it exists"
    )
    parser.add_argument(
        "--keep-partial",
        action="store_true",
        help="with --download: keep what arrived in FILE.part if the download stops early",
    )
    parser.add_argument(
        "--raise",
        dest="raise_for_status",
        action="store_true",
        help=f"exit with status {EXIT_STATUS} if the server answers 4xx or 5xx",
    )
    parser.add_argument(
        "-b", "--body-only", action="store_true", help="print the body only: no status, headers"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="show the request as sent, the connection, each redirect and timings "
        "(on stderr); -vv also lists every trace event",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"httpcore2 {__version__}")
    return parser


def _timeout(text: str) -> float | None:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not seconds >= 0:  # also rejects NaN
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return seconds or None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line client; returns the exit status."""
    output = Output(sys.stdout, sys.stderr)
    try:
        args = build_parser().parse_args(argv)
        return _run(args, output)
    except UsageError as exc:
        output.error(str(exc))
        return EXIT_USAGE
    except TimeoutException as exc:
        output.error(_describe(exc))
        return EXIT_TIMEOUT
    except (HTTPError, StreamError) as exc:
        output.error(_describe(exc))
        return EXIT_NETWORK
    except KeyboardInterrupt:
        output.error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`httpcore2 URL | head`): stop quietly, as other tools do.
        output.silence_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        output.error(str(exc))
        return EXIT_ERROR


def _describe(exc: HTTPError | StreamError) -> str:
    """`Name: message (METHOD URL)`; without the request when the error carries none."""
    text = f"{type(exc).__name__}: {str(exc) or 'no details'}"
    try:
        request = exc.request if isinstance(exc, HTTPError) else None
    except RuntimeError:
        request = None
    return text if request is None else f"{text} ({request.method} {request.url})"


def _run(args: argparse.Namespace, output: Output) -> int:
    with contextlib.ExitStack() as files:
        return _exchange(args, output, _request_arguments(args, files))


def _exchange(args: argparse.Namespace, output: Output, request_args: dict[str, Any]) -> int:
    download = None if args.download is None else _prepare_download(args)
    try:
        client = SyncClient(
            auth=_credentials(args.auth),
            verify=_verify(args),
            http2=args.http2,
            proxy=args.proxy,
            timeout=args.timeout,
            follow_redirects=False,  # followed below, one hop at a time, to show each
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    trace = Trace(output if args.verbose else None, all_events=args.verbose > 1)
    with client:
        try:
            request = client.build_request(
                request_args.pop("method"), args.url, extensions={"trace": trace}, **request_args
            )
        except ValueError as exc:  # a bad URL or header, said before anything is sent
            raise UsageError(str(exc)) from exc
        response = _send(client, request, args.follow, trace)
        try:
            if not args.body_only:
                output.head(response)
            if download is not None and not response.is_error:
                _save(response, download, args.keep_partial, output)
            elif download is None:
                output.body(response)
            trace.finish()
        finally:
            response.close()
    if response.is_error and (args.raise_for_status or download is not None):
        not_saved = "" if download is None else f"; nothing saved to {args.download}"
        output.error(f"the server answered {response.status} {response.reason_phrase}{not_saved}")
        return EXIT_STATUS
    return EXIT_OK


def _send(client: SyncClient, request: Request, follow: bool, trace: Trace) -> Response:
    """Send `request` with its body unread, following redirects one hop at a time, so that
    `-v` can show each hop as it happens."""
    trace.start_hop()
    response = client.send(request, stream=True)
    trace.end_hop(response)
    redirects = 0
    while follow and response.is_redirect:
        if redirects == MAX_REDIRECTS:
            response.close()
            raise TooManyRedirects(f"Exceeded {MAX_REDIRECTS} redirects.", request=response.request)
        redirects += 1
        trace.start_hop(response)
        response = response.next()  # closes the redirect response
        trace.end_hop(response)
    return response


def _request_arguments(args: argparse.Namespace, files: contextlib.ExitStack) -> dict[str, Any]:
    """The keyword arguments of `build_request()` that the options ask for.

    Files to upload are opened on `files`, and streamed rather than read whole.
    """
    headers = [_split(header, ":", "-H", "'Name: value'") for header in args.header]
    params = [_split(param, "=", "-p", "name=value") for param in args.param]
    result: dict[str, Any] = {"headers": headers, "params": params}
    named = {name.lower() for name, _ in headers}
    if args.data is not None:
        result["content"] = b"&".join(_read_argument(value) for value in args.data)
        if "content-type" not in named:
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
    elif args.json is not None:
        content = _read_argument(args.json)
        try:
            json.loads(content)
        except ValueError as exc:
            raise UsageError(f"--json: not valid JSON: {exc}") from None
        result["content"] = content
        if "content-type" not in named:
            headers.append(("Content-Type", "application/json"))
    elif args.form is not None:
        result["data"], result["files"] = _form(args.form, files)
    has_body = len(result) > 2
    result["method"] = (args.method or ("POST" if has_body else "GET")).upper()
    return result


def _split(text: str, separator: str, option: str, shape: str) -> tuple[str, str]:
    name, found, value = text.partition(separator)
    if not found or not name.strip():
        raise UsageError(f"{option} {text!r}: expected {shape}")
    return name.strip(), value.strip() if separator == ":" else value


def _read_argument(value: str) -> bytes:
    """`value` as bytes; `@FILE` reads the file, `@-` standard input."""
    if not value.startswith("@"):
        return value.encode()
    if value == "@-":
        return sys.stdin.buffer.read()
    try:
        return Path(value[1:]).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {value[1:]!r}: {exc.strerror}") from None


def _form(
    fields: list[str], opened: contextlib.ExitStack
) -> tuple[dict[str, list[str]], list[tuple[str, IO[bytes]]]]:
    data: dict[str, list[str]] = {}
    files: list[tuple[str, IO[bytes]]] = []
    for field in fields:
        name, value = _split(field, "=", "-f", "name=value or name=@file")
        if not value.startswith("@"):
            data.setdefault(name, []).append(value)
            continue
        try:
            files.append((name, opened.enter_context(open(value[1:], "rb"))))  # noqa: SIM115
        except OSError as exc:
            raise UsageError(f"cannot read {value[1:]!r}: {exc.strerror}") from None
    return data, files


def _credentials(auth: str | None) -> tuple[str, str] | None:
    if auth is None:
        return None
    user, found, password = auth.partition(":")
    if not found:
        raise UsageError("--auth: expected USER:PASSWORD")
    return user, password


def _verify(args: argparse.Namespace) -> bool | str:
    if args.no_verify:
        return False
    if args.cacert is None:
        return True
    if not os.path.isfile(args.cacert):
        raise UsageError(f"--cacert: no such file: {args.cacert!r}")
    return str(args.cacert)


def _prepare_download(args: argparse.Namespace) -> Path:
    """Where the download goes, checked before anything is sent; never a file that exists."""
    path = Path(args.download)
    if path.exists() and not args.overwrite:
        raise UsageError(f"{path} exists: pass --overwrite to replace it")
    partial = _partial_path(path)
    if partial.exists():
        raise UsageError(
            f"{partial} exists, from an earlier download: httpcore2 does not resume, remove it"
        )
    return path


def _partial_path(path: Path) -> Path:
    return path.with_name(path.name + ".part")


def _save(response: Response, path: Path, keep_partial: bool, output: Output) -> None:
    """Stream the body to `path` through `path.part`, renamed once the body is complete."""
    partial = _partial_path(path)
    written = 0
    try:
        # Opened inside the `try`: a Ctrl-C just after the file is created still removes it.
        with partial.open("xb") as file, output.progress(response) as advance:
            for chunk in response.iter_stream():
                file.write(chunk)
                written += len(chunk)
                advance(written)
    except FileExistsError:
        raise  # not ours: created since `_prepare_download` looked
    except BaseException:
        if not keep_partial:
            partial.unlink(missing_ok=True)
        elif partial.exists():
            output.note(f"kept the partial download in {partial} ({written:,} bytes)")
        raise
    partial.replace(path)
    output.note(f"saved {written:,} bytes to {path}")
