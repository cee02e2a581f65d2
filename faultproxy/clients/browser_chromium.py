"""``chromium``: the browser's own ``EventSource``, in headless Chromium driven by Playwright.

Run as ``python -m faultproxy.clients.child chromium`` (see :mod:`faultproxy.clients.child`):
:func:`prepare` (called before hello, so the harness deadline does not include it) launches
the browser (Debian's ``/usr/bin/chromium``, a fresh profile) and opens the page;
:func:`version` is the version the browser reports; :func:`run` drives one ``EventSource``
in that page:

- the page is at the stream's origin -- a blank document served by ``page.route`` at
  ``ORIGIN/__faultproxy_blank__.html`` (the server never sees it; its favicon is a data URL,
  so no ``/favicon.ico`` request reaches the server either) -- so the stream is same-origin
  and the server needs no CORS headers;
- ``new EventSource(url)`` there; the page reports ``open`` and ``error`` (with the
  ``readyState``) to Python through ``page.expose_function``;
- everything on the wire comes from a DevTools protocol session on the page's Network
  domain, in the order the browser emits it: an attempt per ``EventSource`` request (the
  ``Last-Event-ID`` header it sent, from the raw request headers), its status, how it ended
  (``loadingFinished``: the body ended cleanly; ``loadingFailed``: the net error, e.g.
  ``net::ERR_INCOMPLETE_CHUNKED_ENCODING``), and each event the ``EventSource`` dispatched
  (``Network.eventSourceMessageReceived``, which Blink emits as it dispatches an event:
  named events too -- a page can only listen to the types it knows by name, so listening
  in the page would lose the types nobody named; the id is the ``lastEventId`` the event
  carries). The page also counts the ``message`` events it receives itself, and a count
  that differs from the DevTools one is noted.

Observed (Chromium 156): events that arrive in the same read as a cut body can be lost with
it -- the page never gets them -- and the reconnect then asks from the last event it did get
(``Last-Event-ID``), so a reconnect receives them again; without one they are gone.

The browser reconnects by itself, as the spec says (after a clean end and after a network
error; waiting 3000 ms or what the server's ``retry:`` says -- ``reconnect_ms`` cannot be
applied -- and sending ``Last-Event-ID``), and fails the connection on a 204, another
non-200 status or a wrong content type (``error`` with readyState CLOSED). The reconnect
policy: the page counts the ``error`` events with readyState CONNECTING and calls
``close()`` in the handler when the allowance is spent (no reconnect allowed: at the first
one). The run then ends ``completed`` if that connection ended cleanly and ``error`` with its
net error otherwise (``net.ERR_INCOMPLETE_CHUNKED_ENCODING``); CLOSED after a 204 ends
``completed`` (the server's "stop"), CLOSED after anything else ``error``
(``EventSource.error``: all a page learns is that the browser gave up). GET only, no
extra headers, no body: the ``EventSource`` API has none of them. ``timeout_s`` cannot be
applied (no read timeout).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any
from urllib.parse import urlsplit

from faultproxy.clients.child import dist_version
from faultproxy.clients.protocol import Emitter
from faultproxy.clients.transcript import COMPLETED, ERROR, ClientRequest

CHROMIUM = os.environ.get("FAULTPROXY_CHROMIUM", "/usr/bin/chromium")
# A closed network: nothing in the background, no QUIC, no first-run work; a fresh profile each run.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
BLANK_PATH = "/__faultproxy_blank__.html"
BLANK_PAGE = (
    '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">'
    "<title>faultproxy</title></head><body></body></html>"
)
SETTLE_S = 2.0  # how long the end waits for the browser's word on how the last connection ended

# The page's half: the EventSource, its open/error reports, and the reconnect budget.
PAGE_SCRIPT = """({url, allowed}) => {
  const source = new EventSource(url);
  window.__faultproxySource = source;
  let reconnects = 0;
  let messages = 0;  // the unnamed events the page itself received: a check on the DevTools count
  source.addEventListener("message", () => { messages += 1; });
  source.addEventListener("open", () => faultproxyReport("open", source.readyState, messages));
  source.addEventListener("error", (event) => {
    if (event instanceof MessageEvent) return;  // an event the server named "error": data, not a failure
    if (source.readyState === EventSource.CLOSED) {
      faultproxyReport("closed", source.readyState, messages);
    } else if (reconnects < allowed) {
      reconnects += 1;
      faultproxyReport("reconnecting", source.readyState, messages);
    } else {
      source.close();
      faultproxyReport("stopped", source.readyState, messages);
    }
  });
}"""


class _Browser:
    """The browser and the page :func:`prepare` set up, used by :func:`run` (one run per child process)."""

    loop: asyncio.AbstractEventLoop | None = None
    playwright: Any = None
    browser: Any = None
    run: _Run | None = None
    error: BaseException | None = None


_B = _Browser()


def prepare(request: ClientRequest) -> None:
    """Before hello: launch the browser, open the blank page at the stream's origin, start listening.

    A failure is kept and raised by :func:`run` (so the run ends ``error`` with it).
    """
    _B.loop = asyncio.new_event_loop()
    asyncio.set_event_loop(_B.loop)
    _B.run = _Run(request)
    try:
        _B.loop.run_until_complete(_B.run.prepare())
    except Exception as error:  # noqa: BLE001 -- run() reports it as the run's error
        _B.error = error


def version() -> str | None:
    """The version the browser reports (``156.0.8078.79``); None if it did not start."""
    return _B.browser.version if _B.browser is not None else None


def run(request: ClientRequest, out: Emitter) -> None:
    if _B.loop is None:
        prepare(request)
    assert _B.loop is not None and _B.run is not None
    try:
        if _B.error is not None:
            raise _B.error
        _B.loop.run_until_complete(_B.run.stream(out))
    finally:
        _B.loop.run_until_complete(_shutdown())


def trusted_ca_args() -> list[str]:
    """With ``FAULTPROXY_CA_FILE`` (the harness's ``ca_file``): trust that CA, and only it.

    Chromium on Linux reads trusted roots from an NSS database, which headless runs do not
    have; ``--ignore-certificate-errors-spki-list`` (honoured with a ``--user-data-dir``, which
    Playwright always gives) accepts a chain that holds a certificate with one of the listed
    public keys -- the CA's, which faultproxy's servers send along with every leaf. Anything
    else still fails as in a normal browser (``net::ERR_CERT_AUTHORITY_INVALID``)."""
    path = os.environ.get("FAULTPROXY_CA_FILE")
    if not path:
        return []
    import base64
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    with open(path, "rb") as file:
        certificate = x509.load_pem_x509_certificate(file.read())
    spki = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return [
        f"--ignore-certificate-errors-spki-list={base64.b64encode(hashlib.sha256(spki).digest()).decode()}"
    ]


async def _launch() -> Any:
    from playwright.async_api import async_playwright

    _B.playwright = await async_playwright().start()
    # Playwright gives the browser a fresh, empty profile (a new --user-data-dir) and removes it at close
    _B.browser = await _B.playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[*CHROMIUM_ARGS, *trusted_ca_args()],
        headless=True,
        proxy=proxy_setting(),
    )
    return _B.browser


def proxy_setting() -> dict[str, str] | None:
    """The proxy the environment names (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``), as the
    browser's own proxy setting: a user's browser behind a proxy is configured so, and the
    other clients honour the same variables."""

    def env(name: str) -> str | None:
        return os.environ.get(name) or os.environ.get(name.lower())

    server = env("HTTPS_PROXY") or env("HTTP_PROXY")
    if not server:
        return None
    bypass = env("NO_PROXY")
    return {"server": server, **({"bypass": bypass} if bypass else {})}


async def _shutdown() -> None:
    try:
        if _B.browser is not None:
            await asyncio.wait_for(_B.browser.close(), 5)
        if _B.playwright is not None:
            await asyncio.wait_for(_B.playwright.stop(), 5)
    except Exception:  # noqa: BLE001 -- the run is reported; leaving is all that is left
        pass


class _Attempt:
    def __init__(self, number: int):
        self.number = number
        self.status: int | None = None
        self.ended: str | None = None  # "ended" | "error"
        self.error_text: str | None = None
        self.last_event_id_known = False


class _Run:
    def __init__(self, request: ClientRequest):
        self.request = request
        self.out: Emitter | None = None  # set by stream(), at hello: nothing is recorded before
        self.notes: list[str] = []  # what happened before hello, written once the emitter is there
        self.page: Any = None
        self.attempts: dict[str, _Attempt] = {}  # by the DevTools requestId
        self.early_headers: dict[str, dict[str, str]] = {}  # raw request headers seen before the request
        self.last: _Attempt | None = None
        self.verdict: asyncio.Future[str] | None = None
        self.settled = asyncio.Event()
        self.page_messages = 0
        self.devtools_messages = 0

    # -- the DevTools side ---------------------------------------------------------------------

    def _started(self, timestamp: float | None) -> float | None:
        """The browser's MonotonicTime, when it is the same clock as ours (it is on Linux)."""
        if timestamp is None or self.out is None:
            return None
        now = time.monotonic()
        return timestamp if self.out.t0 - 1.0 <= timestamp <= now + 0.01 else None

    def on_request(self, params: dict[str, Any]) -> None:
        if self.out is None or params.get("type") != "EventSource" or params["requestId"] in self.attempts:
            return  # before hello, not the stream, or a redirect of a request already recorded
        number = self.out.attempt(started=self._started(params.get("timestamp")))
        attempt = self.attempts[params["requestId"]] = _Attempt(number)
        self.last = attempt
        self.settled.clear()
        early = self.early_headers.pop(params["requestId"], None)
        if early is not None:
            self._last_event_id(attempt, early)

    def on_request_extra(self, params: dict[str, Any]) -> None:
        attempt = self.attempts.get(params["requestId"])
        if attempt is None:
            self.early_headers[params["requestId"]] = params.get("headers") or {}
        else:
            self._last_event_id(attempt, params.get("headers") or {})

    def _last_event_id(self, attempt: _Attempt, headers: dict[str, str]) -> None:
        if attempt.last_event_id_known:
            return
        attempt.last_event_id_known = True
        value = next((v for k, v in headers.items() if k.lower() == "last-event-id"), None)
        if value is not None:
            self.out.attempt(number=attempt.number, last_event_id=value)

    def on_response(self, params: dict[str, Any]) -> None:
        attempt = self.attempts.get(params["requestId"])
        if attempt is not None:
            attempt.status = int(params["response"]["status"])
            self.out.attempt(number=attempt.number, status=attempt.status)

    def on_finished(self, params: dict[str, Any]) -> None:
        attempt = self.attempts.get(params["requestId"])
        if attempt is not None and attempt.ended is None:
            attempt.ended = "ended"
            self._disconnect(attempt, params)
            self._maybe_settled(attempt)

    def on_failed(self, params: dict[str, Any]) -> None:
        attempt = self.attempts.get(params["requestId"])
        if attempt is not None and attempt.ended is None:
            attempt.ended = "error"
            text = str(params.get("errorText") or "net::ERR_FAILED")
            if params.get("canceled"):
                text += " (canceled by the browser)"
            attempt.error_text = text
            self._disconnect(attempt, params, net_error_type(text), text)
            self._maybe_settled(attempt)

    def _t(self, params: dict[str, Any]) -> float:
        """Seconds since hello of the browser's timestamp for this DevTools event (else: now)."""
        at = self._started(params.get("timestamp"))
        return self.out.now() if at is None else at - self.out.t0

    def _disconnect(
        self,
        attempt: _Attempt,
        params: dict[str, Any],
        error_type: str | None = None,
        error_message: str | None = None,
    ) -> None:
        message: dict[str, Any] = {
            "kind": "disconnect",
            "number": attempt.number,
            "t": self._t(params),
            "ended": attempt.ended,
        }
        if error_type is not None:
            message["error_type"], message["error_message"] = error_type, error_message
        self.out.write(message)

    def _maybe_settled(self, attempt: _Attempt) -> None:
        if attempt is self.last:
            self.settled.set()

    def on_message(self, params: dict[str, Any]) -> None:
        if self.out is None:
            return
        attempt = self.attempts.get(params["requestId"])
        if (params.get("eventName") or "message") == "message":
            self.devtools_messages += 1
        self.out.write(
            {
                "kind": "event",
                "type": params.get("eventName") or "message",
                "data": params.get("data") or "",
                "id": params.get("eventId") or None,
                "t": self._t(params),
                "connection": attempt.number if attempt is not None else max(self.out.connection, 1),
            }
        )

    # -- the page side ---------------------------------------------------------------------------

    def on_report(self, what: str, ready_state: int, messages: int) -> None:
        self.page_messages = messages
        if what in ("closed", "stopped") and self.verdict is not None and not self.verdict.done():
            self.verdict.set_result(what)

    async def prepare(self) -> None:
        """The browser, a page at the stream's origin, the DevTools session and the page's report hook."""
        browser = await _launch()
        # certificates are checked for real when the harness names a CA to trust
        context = await browser.new_context(ignore_https_errors=not os.environ.get("FAULTPROXY_CA_FILE"))
        page = self.page = await context.new_page()
        page.on("pageerror", lambda error: self.note(f"page error: {error}"))
        page.on(
            "console",
            lambda message: (
                self.note(f"console {message.type}: {message.text}")
                if message.type in ("error", "warning")
                else None
            ),
        )

        parts = urlsplit(self.request.url)
        blank = f"{parts.scheme}://{parts.netloc}{BLANK_PATH}"

        async def serve_blank(route: Any) -> None:
            await route.fulfill(status=200, content_type="text/html; charset=utf-8", body=BLANK_PAGE)

        await page.route(blank, serve_blank)
        await page.goto(blank)
        await page.unroute(blank)  # nothing else is intercepted: the stream goes to the network as is

        cdp = await context.new_cdp_session(page)
        for name, handler in (
            ("Network.requestWillBeSent", self.on_request),
            ("Network.requestWillBeSentExtraInfo", self.on_request_extra),
            ("Network.responseReceived", self.on_response),
            ("Network.loadingFinished", self.on_finished),
            ("Network.loadingFailed", self.on_failed),
            ("Network.eventSourceMessageReceived", self.on_message),
        ):
            cdp.on(name, handler)
        await cdp.send("Network.enable")
        await page.expose_function("faultproxyReport", self.on_report)

    def note(self, text: str) -> None:
        if self.out is None:
            self.notes.append(text)
        else:
            self.out.note(text)

    async def stream(self, out: Emitter) -> None:
        """After hello: the EventSource, until the page stops or the browser gives up."""
        self.out, request = out, self.request
        out.note(f"stack: playwright {dist_version('playwright') or '?'}, {CHROMIUM}")
        for text in self.notes:
            out.note(text)
        if request.timeout_s is not None:
            out.note("timeout_s not applied: EventSource has no read timeout")
        if request.reconnect:
            out.note("reconnect_ms not applied: the browser waits 3000 ms, or what the server's retry: says")
        self.verdict = asyncio.get_running_loop().create_future()
        await self.page.evaluate(PAGE_SCRIPT, {"url": request.url, "allowed": request.reconnects_allowed})
        how = await self.verdict
        try:  # the page's error event can come before the browser's word on the connection
            await asyncio.wait_for(self.settled.wait(), SETTLE_S)
        except TimeoutError:
            out.note(f"the browser did not say how the last connection ended within {SETTLE_S}s")
        self.finish(how)

    def finish(self, how: str) -> None:
        out, last = self.out, self.last
        if self.page_messages != self.devtools_messages:
            out.note(
                f"the page received {self.page_messages} message event(s), the DevTools protocol "
                f"reported {self.devtools_messages}"
            )
        if how == "closed":
            if last is not None and last.status == 204:
                out.note("the server answered 204: the browser stopped, as the spec says")
                out.end(COMPLETED)
            else:
                status = (
                    f"status {last.status}" if last is not None and last.status is not None else "no response"
                )
                out.end(
                    ERROR,
                    "EventSource.error",
                    f"the browser failed the connection (readyState CLOSED) after {status}",
                )
            return
        allowed = self.request.reconnects_allowed
        why = "no reconnect allowed" if allowed == 0 else f"{allowed} reconnect(s) spent"
        out.note(f"reconnect policy: the page closed the EventSource instead of a reconnect ({why})")
        if last is None or last.ended != "error":
            out.end(COMPLETED)
        else:
            text = last.error_text or "net::ERR_FAILED"
            out.end(ERROR, net_error_type(text), f"EventSource error (readyState CONNECTING): {text}")


def net_error_type(text: str) -> str:
    """``net::ERR_INCOMPLETE_CHUNKED_ENCODING`` -> ``net.ERR_INCOMPLETE_CHUNKED_ENCODING``."""
    name = text.split()[0] if text else "net::ERR_FAILED"
    return name.replace("::", ".")
