// fetch-event-source: @microsoft/fetch-event-source's fetchEventSource() on Node's fetch.
//
// The library was written for browsers: it uses `window.fetch` / `window.setTimeout` and
// listens to `document`'s visibilitychange (and removes that listener when it is done even
// with `openWhenHidden: true`), so the adapter gives it `window` = globalThis and a
// `document` that is never hidden, and passes `openWhenHidden: true`.
//
// What the library does, unchanged: its default onopen (a content type other than
// text/event-stream, e.g. a 204's, is an *error*, and so is retried); each blank line
// dispatches a message, including the empty one after a comment or a `retry:` line; the
// event's own `id:` (empty when it has none) is what it reports; a clean end of the body
// resolves the promise -- it never reconnects after one; an error (a failed fetch, a broken
// body, a rejected response) goes to onerror, which decides: the interval it returns is the
// wait before the next attempt (sent with Last-Event-ID), and throwing stops it.
//
// The adapter's onerror applies the reconnect policy: it returns reconnect_ms while
// reconnects are allowed (counted over the run) and rethrows after, so the run ends with
// that error. Attempts, statuses and how each body ended come from a recording fetch (the
// library's `fetch` option).

import { fetchEventSource } from "@microsoft/fetch-event-source";

import { Emitter, causes, errorMessage, errorName, exit, packageVersion, readRequest, recordingFetch } from "./protocol.mjs";

globalThis.window ??= globalThis;
globalThis.document ??= { hidden: false, addEventListener() {}, removeEventListener() {} };

const request = await readRequest();
const out = new Emitter("fetch-event-source");
out.hello(packageVersion("@microsoft/fetch-event-source"), ["retry"]);  // EventSourceMessage.retry
out.note(`stack: node ${process.version} (its built-in fetch: undici ${process.versions.undici})`);
if (request.timeout_s != null) {
  out.note("timeout_s not applied: fetch-event-source has no read timeout");
}
if (request.reconnect) {
  out.note("fetch-event-source does not reconnect after a clean end; the policy applies to errors only");
}

const allowed = request.reconnects_allowed;
let reconnects = 0;

try {
  await fetchEventSource(request.url, {
    method: request.method,
    headers: request.headers,
    body: request.body ?? undefined,
    openWhenHidden: true,
    fetch: recordingFetch(out),
    onmessage(message) {
      out.event(message.event, message.data, message.id, { retry: message.retry ?? null });
    },
    onerror(error) {
      if (reconnects < allowed) {
        reconnects += 1;
        return request.reconnect_ms;
      }
      if (request.reconnect) {
        out.note(`reconnect policy: ${allowed} reconnect(s) spent; the adapter's onerror rethrew`);
      }
      throw error;
    },
  });
  out.end("completed");
} catch (error) {
  const cause = causes(error);
  if (cause) out.note(cause);
  out.end("error", errorName(error), errorMessage(error));
}
exit();
