"""The command line client, run against the loopback servers.

Most tests call `main()` in this process, its output piped into pytest's capture; the entry
points, Ctrl-C and everything that needs a terminal (colour, the progress bar, binary bodies)
run `python -m httpcore2` as a subprocess, the terminal being a pseudo-terminal (`pty`).
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import select
import shlex
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import httpcore2
from httpcore2._cli import (
    EXIT_BROKEN_PIPE,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_STATUS,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    _describe,
    build_parser,
    main,
)
from tests._sync.waiting import wait_until
from tests.servers.app import JSON_DOCUMENT, pattern_bytes
from tests.servers.asgi_server import Server
from tests.servers.raw import (
    RawConnection,
    RawServerFactory,
    build_response,
    reset_mid_body,
    respond_with,
)

PROCESS_TIMEOUT = 60.0
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Run the CLI as `python -m httpcore2` does, with Python's own Ctrl-C handling even if the
# process that started the tests ignores SIGINT (a background job does), and optionally
# with rich made unimportable.
_BOOT = (
    "import runpy, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "if sys.argv.pop(1) == 'no-rich':\n"
    "    sys.modules['rich'] = None\n"
    "runpy.run_module('httpcore2', run_name='__main__', alter_sys=True)\n"
)


def cli_command(*args: str, rich: bool = True) -> list[str]:
    return [sys.executable, "-c", _BOOT, "rich" if rich else "no-rich", *args]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`main(args)` in this process: exit status, stdout and stderr."""
    status = main(args)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def body_of(output: str) -> str:
    """What follows the head (status line, headers, blank line) in the CLI's output."""
    return output.partition("\n\n")[2]


def echoed(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    """The request as `/anything` saw it, sent with the CLI's `args`."""
    status, out, err = run(capsys, *args, "--body-only")
    assert (status, err) == (EXIT_OK, "")
    data: dict[str, Any] = json.loads(out)
    return data


def in_terminal(
    command: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Run `command` with stdin, stdout and stderr on a 120-column pseudo-terminal.

    Returns the exit status and everything written to the terminal.
    """
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES", "TERM", "COLORTERM"}
    }
    environment.update(TERM="xterm-256color", **(env or {}))
    process = subprocess.Popen(
        command, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=environment
    )
    os.close(slave)
    output = bytearray()
    deadline = time.monotonic() + PROCESS_TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], deadline - time.monotonic())
            if not ready:
                break
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every copy of the terminal's other end is closed
                break
            if not data:
                break
            output += data
        status = process.wait(timeout=max(0.0, deadline - time.monotonic()))
    finally:
        process.kill()
        process.wait()
        os.close(master)
    return status, output.decode("utf-8", "replace")


# Entry points and help.


def test_python_dash_m_prints_status_headers_and_body(server: Server) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "httpcore2", server.url + "/"],
        capture_output=True,
        timeout=PROCESS_TIMEOUT,
        check=False,
    )
    assert (result.returncode, result.stderr) == (EXIT_OK, b"")
    head, _, body = result.stdout.partition(b"\n\n")
    lines = head.decode().splitlines()
    assert lines[0] == "HTTP/1.1 200 OK"
    assert "content-length: 13" in lines
    assert body == b"Hello, world!"


def test_the_installed_script_runs_the_cli() -> None:
    script = Path(sys.executable).parent / "httpcore2"
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=PROCESS_TIMEOUT
    )
    assert (result.returncode, result.stdout) == (EXIT_OK, "httpcore2 0.1.0\n")


def test_help_documents_the_options_and_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for option in ["--method", "--header", "--param", "--data", "--json", "--form", "--auth"]:
        assert option in text
    for option in ["--http2", "--no-verify", "--cacert", "--proxy", "--no-follow", "--timeout"]:
        assert option in text
    for option in ["--download", "--overwrite", "--keep-partial", "--raise", "--verbose"]:
        assert option in text
    codes = [EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NETWORK, EXIT_TIMEOUT, EXIT_STATUS]
    for code in [*codes, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE]:
        assert re.search(rf"^  {code} ", text, re.MULTILINE), code


# Building the request.


def test_method_headers_and_params(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    data = echoed(
        capsys,
        server.url + "/anything?keep=1",
        *["-m", "put", "-H", "X-Tag: a", "-H", "x-tag:b", "-H", "X-Empty:"],
        *["-p", "page=2", "-p", "q=a b&c", "-p", "empty="],
    )
    assert data["method"] == "PUT"
    assert ["x-tag", "a"] in data["headers"]
    assert ["x-tag", "b"] in data["headers"]
    assert ["x-empty", ""] in data["headers"]
    assert data["args"] == {"keep": ["1"], "page": ["2"], "q": ["a b&c"], "empty": [""]}


def test_data_is_a_form_body_and_makes_the_method_post(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "more.txt").write_bytes(b"c=3")
    data = echoed(capsys, server.url + "/anything", "-d", "a=1", "-d", f"@{tmp_path / 'more.txt'}")
    assert data["method"] == "POST"
    assert data["body"] == "a=1&c=3"
    assert data["form"] == {"a": ["1"], "c": ["3"]}


def test_data_from_stdin_with_a_content_type_of_ones_own(
    server: Server, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"<ping/>")))
    data = echoed(capsys, server.url + "/anything", "-d", "@-", "-H", "Content-Type: text/xml")
    assert data["body"] == "<ping/>"
    assert ["content-type", "text/xml"] in data["headers"]
    assert ["content-type", "application/x-www-form-urlencoded"] not in data["headers"]


def test_json_body(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    data = echoed(capsys, server.url + "/anything", "--json", '{"name": "widget"}')
    assert (data["method"], data["json"]) == ("POST", {"name": "widget"})
    assert ["content-type", "application/json"] in data["headers"]
    data = echoed(capsys, server.url + "/anything", "--json", "[]", "-H", "content-type: a/b+json")
    assert data["body"] == "[]"
    assert [name for name, _ in data["headers"]].count("content-type") == 1


def test_form_fields_and_files_are_multipart(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    upload = tmp_path / "report.csv"
    upload.write_bytes(b"a,b\n1,2\n")
    data = echoed(capsys, server.url + "/anything", "-f", "title=Q3", "-f", f"report=@{upload}")
    assert data["form"] == {"title": ["Q3"]}
    [part] = data["files"]
    assert (part["name"], part["filename"], part["content"]) == (
        "report",
        "report.csv",
        "a,b\n1,2\n",
    )


def test_basic_auth(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, server.url + "/basic-auth/ada/s3cret", "--auth", "ada:s3cret")
    assert status == EXIT_OK
    assert json.loads(body_of(out)) == {"authenticated": True, "user": "ada"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the following arguments are required: URL"),
        (["-H", "no colon"], "-H 'no colon': expected 'Name: value'"),
        (["-H", ": value"], "expected 'Name: value'"),
        (["-p", "novalue"], "-p 'novalue': expected name=value"),
        (["-f", "=x"], "expected name=value or name=@file"),
        (["-f", "upload=@/nonexistent/file"], "cannot read '/nonexistent/file'"),
        (["-d", "@/nonexistent/file"], "cannot read '/nonexistent/file'"),
        (["--json", "{nope"], "--json: not valid JSON"),
        (["-d", "a=1", "--json", "{}"], "argument --json: not allowed with argument -d/--data"),
        (["--auth", "ada"], "--auth: expected USER:PASSWORD"),
        (["--timeout", "soon"], "not a number of seconds: 'soon'"),
        (["--timeout", "-1"], "must not be negative"),
        (["--cacert", "/nonexistent/ca.pem"], "--cacert: no such file"),
        (["--no-verify", "--cacert", "ca.pem"], "not allowed with argument --no-verify"),
        (["-H", "X-Bad: a\x00b"], "X-Bad"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    server: Server, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    url = [server.url + "/"] if args else []
    status, out, err = run(capsys, *url, *args)
    assert status == EXIT_USAGE
    assert out == ""
    assert err.startswith("httpcore2: error: ")
    assert err.count("\n") == 1
    assert message in err


def test_an_error_without_a_request_is_described_alone() -> None:
    assert _describe(httpcore2.DecodingError("bad gzip")) == "DecodingError: bad gzip"
    assert _describe(httpcore2.DecodingError("")) == "DecodingError: no details"


def test_bad_url_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "http://exa mple.org/")
    assert status == EXIT_USAGE
    assert err.startswith("httpcore2: error: ")
    assert err.count("\n") == 1


def test_proxy_option_is_passed_to_the_client_and_errors_are_reported_cleanly(
    server: Server, capsys: pytest.CaptureFixture[str], unused_port: int
) -> None:
    # Proxies are still to come in the client (it refuses `proxy=` with ValueError, a usage
    # error); once they land, an unreachable proxy is a network error.
    status, out, err = run(capsys, server.url + "/", "--proxy", f"http://127.0.0.1:{unused_port}")
    assert status in (EXIT_USAGE, EXIT_NETWORK)
    assert out == ""
    assert err.startswith("httpcore2: error: ")
    assert err.count("\n") == 1
    assert "proxy" in err.lower()


# The response and the exit status.


def test_piped_output_is_the_body_as_received(
    server: Server, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert main([server.url + "/json", "-b"]) == EXIT_OK
    json_body = capfdbinary.readouterr().out
    assert json.loads(json_body) == JSON_DOCUMENT
    assert b"\n  " not in json_body  # not pretty-printed when piped
    assert main([server.url + "/stream/3000?chunked=0", "-b"]) == EXIT_OK
    assert capfdbinary.readouterr().out == pattern_bytes(3000)


def test_redirects_are_followed_unless_no_follow(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, server.url + "/redirect-chain/2")
    assert (status, out.splitlines()[0], body_of(out)) == (EXIT_OK, "HTTP/1.1 200 OK", "done")
    status, out, _ = run(capsys, server.url + "/redirect-chain/2", "--no-follow")
    assert (status, out.splitlines()[0]) == (EXIT_OK, "HTTP/1.1 302 Found")
    assert "location: /redirect-chain/1" in out.splitlines()


def test_too_many_redirects_is_a_network_error(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, server.url + "/redirect-loop")
    assert (status, out) == (EXIT_NETWORK, "")
    assert err == (
        f"httpcore2: error: TooManyRedirects: Exceeded 20 redirects. "
        f"(GET {server.url}/redirect-loop)\n"
    )


def test_an_upload_that_a_redirect_cannot_replay_is_a_network_error(server: Server) -> None:
    # Standard input is a pipe: it streams once, and a 307 asks for the body again.
    url = server.url + "/redirect-to?url=/anything&status_code=307"
    result = subprocess.run(
        [sys.executable, "-m", "httpcore2", url, "-f", "upload=@/dev/stdin"],
        input=b"data",
        capture_output=True,
        timeout=PROCESS_TIMEOUT,
        check=False,
    )
    assert (result.returncode, result.stdout) == (EXIT_NETWORK, b"")
    assert result.stderr.startswith(b"httpcore2: error: StreamConsumed: The request body is")
    assert result.stderr.count(b"\n") == 1


def test_connection_refused_is_a_network_error(
    capsys: pytest.CaptureFixture[str], unused_port: int
) -> None:
    status, out, err = run(capsys, f"http://127.0.0.1:{unused_port}/")
    assert (status, out) == (EXIT_NETWORK, "")
    assert err.startswith("httpcore2: error: ConnectError: ")
    assert err.count("\n") == 1


def test_untrusted_certificate_is_a_network_error_unless_no_verify(
    tls_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, tls_server.url + "/")
    assert status == EXIT_NETWORK
    assert err.startswith("httpcore2: error: ConnectError: ")
    assert "certificate" in err
    status, out, _ = run(capsys, tls_server.url + "/", "--no-verify")
    assert (status, body_of(out)) == (EXIT_OK, "Hello, world!")


def test_cacert_and_http2(tls_server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    assert tls_server.ca_file is not None
    args = ["--cacert", str(tls_server.ca_file)]
    status, out, _ = run(capsys, tls_server.url + "/", *args)
    assert (status, out.splitlines()[0]) == (EXIT_OK, "HTTP/1.1 200 OK")
    status, out, _ = run(capsys, tls_server.url + "/", *args, "--http2")
    assert (status, out.splitlines()[0]) == (EXIT_OK, "HTTP/2 200 OK")


def test_timeout_exits_4(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, server.url + "/delay/2", "--timeout", "0.2")
    assert (status, out) == (EXIT_TIMEOUT, "")
    assert err == (
        f"httpcore2: error: ReadTimeout: No data received within 0.2 s (GET {server.url}/delay/2)\n"
    )
    # 0 means no timeout at all.
    status, out, _ = run(capsys, server.url + "/delay/0.3", "--timeout", "0")
    assert (status, body_of(out)) == (EXIT_OK, "Hello, world!")


def test_error_status_exits_5_only_with_raise(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, server.url + "/status/404")
    assert (status, out.splitlines()[0], err) == (EXIT_OK, "HTTP/1.1 404 Not Found", "")
    status, out, err = run(capsys, server.url + "/status/503", "--raise")
    assert (status, out.splitlines()[0]) == (EXIT_STATUS, "HTTP/1.1 503 Service Unavailable")
    assert err == "httpcore2: error: the server answered 503 Service Unavailable\n"


def test_a_reader_that_goes_away_ends_the_cli_quietly(server: Server) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "httpcore2", server.url + "/stream/10000000", "-b"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        assert process.stdout.read(10) == pattern_bytes(10)
        process.stdout.close()
        assert process.wait(timeout=PROCESS_TIMEOUT) == EXIT_BROKEN_PIPE
        assert process.stderr.read() == b""


# -v


def test_verbose_shows_the_request_hops_and_timings(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(
        capsys, server.url + "/redirect/302?location=/echo", "-v", "--auth", "ada:s3cret"
    )
    assert (status, out.splitlines()[0]) == (EXIT_OK, "HTTP/1.1 200 OK")
    lines = err.splitlines()
    assert lines[0] == f"* connected to 127.0.0.1:{server.port}"
    assert lines[1] == "> GET /redirect/302?location=/echo HTTP/1.1"
    assert f"> Host: 127.0.0.1:{server.port}" in lines
    assert "> Authorization: Basic [hidden]" in lines
    assert "< HTTP/1.1 302 Found" in lines
    assert "< location: /echo" in lines
    assert "* following the 302 redirect to /echo" in lines
    assert "* reusing a connection" in lines
    assert "> GET /echo HTTP/1.1" in lines
    assert "< HTTP/1.1 200 OK" in lines
    timings = [line for line in lines if "first byte" in line]
    assert re.fullmatch(r"\* connect \d+\.\d ms, first byte \d+\.\d ms", timings[0])
    assert re.fullmatch(r"\* first byte \d+\.\d ms", timings[1])
    assert re.fullmatch(r"\* total \d+\.\d ms \(2 requests\)", lines[-1])
    assert "s3cret" not in err


def test_verbose_shows_tls_and_alpn_and_vv_every_event(
    tls_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    assert tls_server.ca_file is not None
    args = [tls_server.url + "/", "--cacert", str(tls_server.ca_file), "--http2", "-vv"]
    status, _, err = run(capsys, *args)
    assert status == EXIT_OK
    lines = err.splitlines()
    assert re.fullmatch(r"\* TLS TLSv1\.[23], cipher \S+, ALPN h2", lines[1])
    assert "> GET / HTTP/2" in lines
    events = [line.rpartition(" ")[2] for line in lines if line.startswith("* +")]
    assert events[:4] == [
        "connection.connect_tcp.started",
        "connection.connect_tcp.complete",
        "connection.start_tls.started",
        "connection.start_tls.complete",
    ]
    assert re.fullmatch(r"\* connect \S+ ms, TLS \S+ ms, first byte \S+ ms", lines[-2])
    assert re.fullmatch(r"\* total \d+\.\d ms", lines[-1])


# On a terminal.


class FakeTerminal(io.TextIOWrapper):
    """A text stream that says it is a terminal, for the branches a pseudo-terminal is too
    slow a way to reach (the real terminal tests run below)."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", newline="", write_through=True)

    def isatty(self) -> bool:
        return True

    def text(self) -> str:
        assert isinstance(self.buffer, io.BytesIO)
        return self.buffer.getvalue().decode()


@pytest.mark.parametrize(
    ("content_type", "body", "shown"),
    [
        ("text/plain", b"", ""),
        ("application/json", b"{nope", "{nope\n"),
        ("application/problem+json", b'{"a":[1]}', '{\n  "a": [\n    1\n  ]\n}\n'),
        (None, b"no type, but text", "no type, but text\n"),
        (None, b"\x00\x01", "[binary body: 2 bytes not shown on a terminal; ...]\n"),
        ("image/png", b"\x89PNG", "[binary body: 4 bytes not shown on a terminal; ...]\n"),
    ],
)
def test_bodies_on_a_terminal_without_rich(
    raw_server: RawServerFactory,
    monkeypatch: pytest.MonkeyPatch,
    content_type: str | None,
    body: bytes,
    shown: str,
) -> None:
    headers = [] if content_type is None else [("Content-Type", content_type)]
    server = raw_server(respond_with(build_response(body=body, headers=headers)))
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.setitem(sys.modules, "rich", None)
    assert main([server.url + "/", "-b"]) == EXIT_OK
    pattern = ".*".join(re.escape(part) for part in shown.split("..."))
    assert re.fullmatch(pattern, terminal.text())


def test_json_is_pretty_and_coloured_on_a_terminal(server: Server) -> None:
    status, screen = in_terminal(cli_command(server.url + "/json"))
    assert status == EXIT_OK
    assert "\x1b[" in screen  # colour
    plain = _ANSI.sub("", screen).replace("\r\n", "\n")
    assert plain.startswith("HTTP/1.1 200 OK\n")
    assert body_of(plain) == json.dumps(JSON_DOCUMENT, indent=2, ensure_ascii=False) + "\n"


def test_without_rich_the_terminal_output_is_plain(server: Server) -> None:
    status, screen = in_terminal(cli_command(server.url + "/json", rich=False))
    assert status == EXIT_OK
    assert "\x1b" not in screen
    plain = screen.replace("\r\n", "\n")
    assert body_of(plain) == json.dumps(JSON_DOCUMENT, indent=2, ensure_ascii=False) + "\n"


def test_binary_bodies_are_not_dumped_to_a_terminal(server: Server) -> None:
    status, screen = in_terminal(cli_command(server.url + "/stream/4000?chunked=0", rich=False))
    assert status == EXIT_OK
    assert body_of(screen.replace("\r\n", "\n")) == (
        "[binary body: 4,000 bytes not shown on a terminal; use --download FILE, "
        "or pipe the output]\n"
    )


def test_control_characters_of_text_are_not_sent_to_a_terminal(
    raw_server: RawServerFactory,
) -> None:
    text = b"red \x1b[31malert\x07\n"
    response = build_response(body=text, headers=[("Content-Type", "text/plain")])
    server = raw_server(respond_with(response))
    status, screen = in_terminal(cli_command(server.url + "/", rich=False))
    assert status == EXIT_OK
    assert body_of(screen.replace("\r\n", "\n")) == "red \ufffd[31malert\ufffd\n"


# --download


def test_download_saves_the_body_and_never_overwrites(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "data.bin"
    url = server.url + "/stream/300000"
    status, out, err = run(capsys, url, "--download", str(target))
    assert (status, out.splitlines()[0]) == (EXIT_OK, "HTTP/1.1 200 OK")
    assert err == f"saved 300,000 bytes to {target}\n"
    assert target.read_bytes() == pattern_bytes(300000)

    target.write_bytes(b"mine")
    status, out, err = run(capsys, url, "--download", str(target))
    assert (status, out) == (EXIT_USAGE, "")
    assert err == f"httpcore2: error: {target} exists: pass --overwrite to replace it\n"
    assert target.read_bytes() == b"mine"

    status, _, _ = run(capsys, url, "--download", str(target), "--overwrite")
    assert status == EXIT_OK
    assert target.read_bytes() == pattern_bytes(300000)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data.bin"]


def test_download_never_resumes_a_kept_partial_file(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "data.bin.part").write_bytes(b"earlier")
    status, _, err = run(capsys, server.url + "/", "--download", str(tmp_path / "data.bin"))
    assert status == EXIT_USAGE
    assert "data.bin.part exists, from an earlier download" in err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data.bin.part"]


def test_download_of_an_error_status_saves_nothing(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "x"
    status, out, err = run(capsys, server.url + "/status/404", "--download", str(target))
    assert (status, out.splitlines()[0]) == (EXIT_STATUS, "HTTP/1.1 404 Not Found")
    answered = "the server answered 404 Not Found"
    assert err == f"httpcore2: error: {answered}; nothing saved to {target}\n"
    assert list(tmp_path.iterdir()) == []


def test_a_failed_download_leaves_nothing_unless_keep_partial(
    raw_server: RawServerFactory, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = raw_server(reset_mid_body(content_length=1000, sent=100))
    target = tmp_path / "data.bin"
    status, _, err = run(capsys, server.url + "/", "--download", str(target))
    assert status == EXIT_NETWORK
    assert err.startswith("httpcore2: error: ReadError: ")
    assert err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []

    status, _, err = run(capsys, server.url + "/", "--download", str(target), "--keep-partial")
    assert status == EXIT_NETWORK
    partial = tmp_path / "data.bin.part"
    assert err.splitlines()[0] == f"kept the partial download in {partial} (100 bytes)"
    assert partial.read_bytes() == pattern_bytes(100)
    assert not target.exists()


def test_a_download_that_cannot_be_written_exits_1(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, _, err = run(capsys, server.url + "/", "--download", str(tmp_path / "no" / "dir"))
    assert status == EXIT_ERROR
    assert err.startswith("httpcore2: error: ")
    assert "No such file or directory" in err


def test_a_partial_file_that_appears_during_the_request_is_left_alone(
    raw_server: RawServerFactory, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    partial = tmp_path / "data.bin.part"

    def handler(conn: RawConnection) -> None:
        if conn.recv_request():
            partial.write_bytes(b"another download")  # after the CLI looked for it
            conn.send(build_response())

    server = raw_server(handler)
    status, _, err = run(capsys, server.url + "/", "--download", str(tmp_path / "data.bin"))
    assert status == EXIT_ERROR
    assert err.startswith("httpcore2: error: ")
    assert "File exists" in err
    assert partial.read_bytes() == b"another download"
    assert not (tmp_path / "data.bin").exists()


@pytest.mark.parametrize("keep", [False, True], ids=["removed", "kept"])
def test_ctrl_c_during_a_download_leaves_no_partial_file(
    raw_server: RawServerFactory, tmp_path: Path, keep: bool
) -> None:
    # 100 of the 1000 bytes announced, then nothing: the download is stuck until Ctrl-C.
    response = build_response(body=pattern_bytes(100), content_length=1000)
    server = raw_server(respond_with(response))
    args = [server.url + "/", "--download", "data.bin", *(["--keep-partial"] if keep else [])]
    with subprocess.Popen(
        cli_command(*args, "--timeout", "60"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        assert process.stdout.readline() == "HTTP/1.1 200 OK\n"
        wait_until((tmp_path / "data.bin.part").exists, PROCESS_TIMEOUT)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=PROCESS_TIMEOUT) == EXIT_INTERRUPTED
        err = process.stderr.read()
    assert err.splitlines()[-1] == "httpcore2: error: interrupted"
    if keep:
        assert [path.name for path in tmp_path.iterdir()] == ["data.bin.part"]
        assert pattern_bytes(100).startswith((tmp_path / "data.bin.part").read_bytes())
    else:
        assert list(tmp_path.iterdir()) == []


def test_download_progress_bar_on_a_terminal(server: Server, tmp_path: Path) -> None:
    command = cli_command(server.url + "/stream/2000000?chunked=0", "--download", "a.bin")
    status, screen = in_terminal(command, cwd=tmp_path)
    assert status == EXIT_OK
    plain = _ANSI.sub("", screen)
    assert "━" in plain  # the bar
    assert "2.0/2.0 MB" in plain  # the size
    assert re.search(r"\d+(\.\d+)? [kMG]B/s", plain)  # the rate
    assert "0:00:00" in plain  # the time left
    assert (tmp_path / "a.bin").read_bytes() == pattern_bytes(2000000)


def test_download_of_unknown_size_shows_a_spinner(server: Server, tmp_path: Path) -> None:
    command = cli_command(server.url + "/stream/2000000?chunked=1", "--download", "a.bin")
    status, screen = in_terminal(command, cwd=tmp_path)
    assert status == EXIT_OK
    plain = _ANSI.sub("", screen)
    assert re.search("[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]", plain)  # rich's "dots" spinner
    assert "2.0/? MB" in plain  # the size so far, of an unknown total
    assert "━" not in plain
    assert "0:00:00" not in plain
    assert (tmp_path / "a.bin").read_bytes() == pattern_bytes(2000000)


def test_no_progress_bar_when_stderr_is_not_a_terminal(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "a.bin"
    status, _, err = run(capsys, server.url + "/stream/1000?chunked=0", "--download", str(target))
    assert (status, err) == (EXIT_OK, f"saved 1,000 bytes to {target}\n")


# The documentation.


def documented_commands() -> list[str]:
    """Every `$ httpcore2 ...` command line shown in README.md and docs/."""
    root = Path(__file__).resolve().parent.parent
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    return [
        line.strip()[2:]
        for page in pages
        for line in page.read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("$ httpcore2 ")
    ]


def test_the_documented_command_lines_parse() -> None:
    commands = documented_commands()
    assert len(commands) >= 8
    parser = build_parser()
    for command in commands:
        words = shlex.split(command, comments=True)
        assert words[0] == "httpcore2"
        parser.parse_args(words[1:])  # raises UsageError if the docs drifted
