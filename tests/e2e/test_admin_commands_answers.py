"""The commands that operate a running gateway (`gateway.admin_client`): what the operator
sees when the address answers something other than the gateway's API (a web server's page, a
redirect, a proxy's error), and `xref import` over more than one chunk."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e import payloads
from tests.e2e.gateways import token_for
from tests.servers import run_cli

# (status, content type, body, extra headers) answered to every request.
Answer = tuple[int, str, bytes, dict[str, str]]

WEB_PAGE: Answer = (200, "text/html", b"<html><body>Welcome to nginx!</body></html>", {})
REDIRECT: Answer = (301, "text/html", b"", {"Location": "https://gateway.example/"})
JSON_NOT_A_PROBLEM: Answer = (502, "application/json", b'["upstream unavailable"]', {})
PROXY_ERROR_PAGE: Answer = (
    502,
    "text/html",
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n",
    {},
)
# Another web server's "not found": nginx's page, padded as browsers once needed it to be.
NGINX_404_PAGE = (
    b"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
    b"<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n"
    b"</body>\r\n</html>\r\n"
    + b"<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n"
    * 6
)
WEB_SERVER_404: Answer = (404, "text/html", NGINX_404_PAGE, {})
# Another JSON API's "not found": an object, but no problem (RFC 9457) of the gateway's.
JSON_API_404: Answer = (404, "application/json", b'{"message": "no such route"}', {})

JSON_COMMANDS = {
    "migrate": ("migrate", "--legal-entity", "SG01", "--to", "cloud"),
    "shadow report": ("shadow", "report"),
    "events dead-letters": ("events", "dead-letters"),
    "events subscriptions": ("events", "subscriptions"),
    "explain": ("explain", "--operation", "customers.create", "--legal-entity", "DE01"),
}


@pytest.fixture
def not_the_gateway() -> Iterator[tuple[str, dict[str, Answer]]]:
    """An HTTP server that answers every request with `answer["now"]`."""
    answer: dict[str, Answer] = {"now": WEB_PAGE}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, media_type, body, headers = answer["now"]
            self.send_response(status)
            self.send_header("Content-Type", media_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", answer
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _one_line_refusal(result: Any) -> list[str]:
    """What is wrong with how a command failed, [] when it is a one-line refusal."""
    wrong = []
    if result.returncode != 1:
        wrong.append(f"exit {result.returncode}")
    if "Traceback" in result.stderr:
        wrong.append("traceback: " + result.stderr.strip().splitlines()[-1])
    elif len(result.stderr.strip().splitlines()) != 1:
        wrong.append(f"{len(result.stderr.strip().splitlines())} lines: {result.stderr!r}")
    return wrong


@pytest.mark.parametrize(
    "answer", [WEB_PAGE, REDIRECT, JSON_NOT_A_PROBLEM], ids=["web-page", "redirect", "json-list"]
)
def test_an_answer_that_is_not_the_admin_apis_is_a_one_line_refusal_not_a_traceback(
    not_the_gateway: tuple[str, dict[str, Answer]], answer: Answer
) -> None:
    """--url pointing at a web server, at a plain-HTTP listener that redirects to HTTPS, or at
    a proxy whose error body is JSON but not a problem: each command says so in one line (as
    for an unreachable gateway, test_admin_commands.py), never a Python traceback."""
    url, now = not_the_gateway
    now["now"] = answer
    failures = {}
    for name, command in JSON_COMMANDS.items():
        wrong = _one_line_refusal(run_cli(*command, "--url", url, admin_token="x"))
        if wrong:
            failures[name] = wrong
    assert failures == {}


def test_a_proxys_html_error_page_is_reported_in_one_line(
    not_the_gateway: tuple[str, dict[str, Answer]],
) -> None:
    url, now = not_the_gateway
    now["now"] = PROXY_ERROR_PAGE
    result = run_cli(*JSON_COMMANDS["migrate"], "--url", url, admin_token="x")
    assert "502" in result.stderr
    assert _one_line_refusal(result) == []


@pytest.mark.parametrize(
    "answer", [WEB_SERVER_404, JSON_API_404], ids=["web-server-404", "json-api-404"]
)
def test_a_refusal_that_is_no_problem_says_what_answered_and_what_to_check(
    not_the_gateway: tuple[str, dict[str, Answer]], answer: Answer, tmp_path: Path
) -> None:
    """--url pointing at another web server (or another JSON API) that answers 404: one line
    naming the address, the status and the admin path asked for, and asking whether --url is
    the gateway; not the page's text, nor "the gateway answered", which it was not."""
    url, now = not_the_gateway
    now["now"] = answer
    commands = {
        **JSON_COMMANDS,
        "xref export": ("xref", "export", "--out", str(tmp_path / "xref.csv")),
        "audit export": ("audit", "export", "--out", str(tmp_path / "audit.jsonl")),
    }
    if answer is JSON_API_404:  # judged as the page is, by one function: a JSON and an export
        commands = {name: commands[name] for name in ("migrate", "audit export")}
    failures = {}
    for name, command in commands.items():
        result = run_cli(*command, "--url", url, admin_token="x")
        said = result.stderr.strip()
        wrong = _one_line_refusal(result)
        if f"{url} answered 404 for /admin/" not in said:
            wrong.append(f"not {url} answered 404 for /admin/...: {said!r}")
        if "is --url the gateway?" not in said:
            wrong.append(f"no hint to check --url: {said!r}")
        if any(text in said for text in ("<", "nginx", "no such route", "None")):
            wrong.append(f"the answer's body: {said!r}")
        if wrong:
            failures[name] = wrong
    assert failures == {}


@pytest.mark.parametrize("answer", [WEB_PAGE, REDIRECT], ids=["web-page", "redirect"])
@pytest.mark.parametrize(
    "command", [("xref", "export"), ("audit", "export")], ids=["xref", "audit"]
)
def test_an_export_from_something_other_than_the_gateway_fails(
    not_the_gateway: tuple[str, dict[str, Answer]],
    answer: Answer,
    command: tuple[str, str],
    tmp_path: Path,
) -> None:
    """A 3xx (httpx follows no redirect) or a web page is no export: the command fails, so that
    a scheduled backup of the ID cross-reference or of the audit trail never saves nothing; and
    the previous export at `--out` stays as it was (it was emptied before the request)."""
    url, now = not_the_gateway
    now["now"] = answer
    out = tmp_path / "export.out"
    out.write_bytes(b"the previous export\n")
    result = run_cli(*command, "--out", str(out), "--url", url, admin_token="x")
    assert result.returncode == 1, (result.returncode, result.stderr, out.read_text())
    assert out.read_bytes() == b"the previous export\n"


@pytest.mark.parametrize("out", ["/nonexistent/dir/x.csv", "/tmp"])
def test_an_export_to_a_path_that_cannot_be_written_is_one_line(
    not_the_gateway: tuple[str, dict[str, Answer]], out: str
) -> None:
    url, now = not_the_gateway
    now["now"] = (200, "text/csv", b"kind,gateway_id\n", {})
    result = run_cli("xref", "export", "--out", out, "--url", url, admin_token="x")
    assert _one_line_refusal(result) == []
    assert f"cannot write {out}" in result.stderr


def test_xref_import_reports_every_row_the_binding_refused(
    api: httpx.Client, gateway_url: str, config_dir: Path, tmp_path: Path
) -> None:
    """Two rows binding one cloud document to two customers: within one request the second is
    refused as "also on line N". `gateway xref import` sends 2000 lines a request, so when the
    rows are further apart both pass validation, the second is then refused by the binding, and
    the command reports that refusal at its FILE:LINE and exits 1."""
    first, second = (
        api.post("/v1/customers", json=payloads.customer("GB01")).json()["id"] for _ in range(2)
    )
    target = f"77{abs(hash(first)) % 10**8:08d}"
    mappings = tmp_path / "mappings.csv"
    mappings.write_text(
        "kind,gateway_id,source_backend,source_erp_id,target_backend,target_erp_id,"
        "target_document_number\n"
        f"customer,{first},,,cloud,{target},\n"
        + "\n" * 1999  # the second row is in the next request: any 2000 rows in between do
        + f"customer,{second},,,cloud,{target},\n"
    )
    admin = token_for("ops-admin", config_dir)
    done = run_cli("xref", "import", str(mappings), "--url", gateway_url, admin_token=admin)
    assert "1 bound" in done.stdout, done.stdout + done.stderr  # the second was refused
    assert f"{mappings}:2002:" in done.stderr, done.stdout + done.stderr
    assert done.returncode == 1


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full, a disk always full")
@pytest.mark.parametrize("rows", [1, 20_000], ids=["said-at-close", "said-at-a-write"])
def test_an_export_to_a_full_disk_is_one_line_naming_the_file(
    not_the_gateway: tuple[str, dict[str, Answer]], rows: int
) -> None:
    """A scheduled export to a disk that filled up was a traceback (OSError from the write, or
    from the close when what was left fit in the buffer): one line now, exit 1."""
    url, now = not_the_gateway
    csv = b"kind,gateway_id\n" + b"customer,cus_00000000000000000000000000\n" * rows
    now["now"] = (200, "text/csv", csv, {})
    result = run_cli("xref", "export", "--out", "/dev/full", "--url", url, admin_token="x")
    assert _one_line_refusal(result) == []
    assert "cannot write /dev/full: No space left on device" in result.stderr
