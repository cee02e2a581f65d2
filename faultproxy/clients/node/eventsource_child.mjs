// node-eventsource: the `eventsource` npm package's EventSource (a WHATWG EventSource for Node on fetch).
//
// The library reconnects by itself, as the spec says: after a clean end of the body and after
// a network error it fires `error` with readyState CONNECTING and reconnects after its
// reconnection time (3000 ms unless the server sends `retry:`; it has no option for it),
// sending Last-Event-ID; a 204, another non-200 status or a wrong content type fails the
// connection (`error` with readyState CLOSED) and it stops.
//
// The adapter:
// - gives it a recording fetch (the library's `fetch` option): each attempt with the
//   Last-Event-ID it sends, its status, how its body ended; the request's extra headers are
//   added there (the library has no headers option);
// - reports every MessageEvent the library dispatches, whatever its type (named events too:
//   an application only sees the types it listens to; here every dispatch is observed);
// - applies the reconnect policy by counting the `error` events with readyState CONNECTING
//   and calling close() in the error handler when the allowance is spent (no reconnect
//   allowed: at the first one). The run then ends `completed` if that connection's body had
//   ended cleanly and `error` otherwise; CLOSED after a 204 ends `completed` (the server's
//   "stop", as the spec has it), CLOSED after anything else `error`.
// The error type the application sees is always eventsource.ErrorEvent (its message says
// what happened); the disconnect lines carry the underlying fetch error.

import { EventSource } from "eventsource";

import { Emitter, errorMessage, errorName, exit, packageVersion, readRequest, recordingFetch } from "./protocol.mjs";

const request = await readRequest();
const out = new Emitter("node-eventsource");
out.hello(packageVersion("eventsource"));
out.note(`stack: node ${process.version} (undici ${process.versions.undici}), eventsource-parser ${packageVersion("eventsource-parser") ?? "?"}`);
if (request.timeout_s != null) {
  out.note("timeout_s not applied: eventsource has no read timeout");
}
if (request.reconnect) {
  out.note("reconnect_ms not applied: eventsource has no option for it (3000 ms, or the server's retry:)");
}

const allowed = request.reconnects_allowed;
let reconnects = 0;
let lastEnded = null; // how the latest connection ended, as the recording fetch saw it: "ended" | "error"
const disconnect = out.disconnect.bind(out);
out.disconnect = (number, ended, error = null) => {
  lastEnded = ended;
  disconnect(number, ended, error);
};

let source;
try {
  source = new EventSource(request.url, { fetch: recordingFetch(out, { extraHeaders: request.headers }) });
} catch (error) { // an invalid URL: the constructor throws a SyntaxError
  out.end("error", errorName(error), errorMessage(error));
  exit();
}

// Every event the library dispatches goes through dispatchEvent (an EventTarget method it
// calls on itself): seen here before any listener, whatever the event's type.
const dispatch = source.dispatchEvent.bind(source);
source.dispatchEvent = (event) => {
  if (event instanceof MessageEvent) {
    out.event(event.type, typeof event.data === "string" ? event.data : String(event.data), event.lastEventId);
  }
  return dispatch(event);
};

function describe(event) {
  const code = event.code !== undefined ? ` (code ${event.code})` : "";
  return `${event.message ?? "connection ended"}${code}`;
}

source.addEventListener("error", (event) => {
  // An event the server named "error" reaches the error listeners too (its type is the field's
  // value, as the spec says): it is data, handed over by dispatchEvent above, not a failure.
  if (event instanceof MessageEvent) return;
  if (source.readyState === source.CLOSED) {
    // the library failed the connection and will not reconnect
    if (event.code === 204) {
      out.note("the server answered 204: the library stopped, as the spec says");
      out.end("completed");
    } else {
      out.end("error", "eventsource.ErrorEvent", describe(event));
    }
    exit();
    return;
  }
  // readyState CONNECTING: the library is about to reconnect
  if (reconnects < allowed) {
    reconnects += 1;
    return;
  }
  source.close();
  const why = allowed === 0 ? "no reconnect allowed" : `${allowed} reconnect(s) spent`;
  out.note(`reconnect policy: the adapter closed the EventSource instead of a reconnect (${why})`);
  if (event.message === undefined && lastEnded !== "error") {
    out.end("completed");
  } else {
    out.end("error", "eventsource.ErrorEvent", describe(event));
  }
  exit();
});

