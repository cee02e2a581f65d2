// Each Node reference library used directly, as its README shows -- no faultproxy adapter.
// The same contract as direct_py.py: a JSON request on stdin; JSON Lines out, {"event": [...]}
// per event as it happens, then one {"end": ...}.
//
// A spec EventSource reconnects after every end of a body; it is closed at the `error` event
// with readyState CONNECTING after the scenario's reconnects (`reconnects`) are spent. The
// library's error event then says whether the connection failed (`message` set) or just ended
// (no message): that is all an application can know. fetch-event-source retries only after an
// error, as many times as allowed, `reconnect_ms` apart.

import { createRequire } from "node:module";
import { writeSync } from "node:fs";

const require = createRequire(new URL("../../../faultproxy/clients/node/package.json", import.meta.url));
const emit = (record) => writeSync(1, JSON.stringify(record) + "\n");
const event = (type, data, id, retry = null) => emit({ event: [type || "message", data, id || null, retry ?? null] });

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString("utf8"));

async function nodeEventsource() {
  const { EventSource } = require("eventsource");
  emit({ hello: true });  // the deadline starts here, once the library is loaded
  const source = new EventSource(request.url);
  const dispatch = source.dispatchEvent.bind(source);
  source.dispatchEvent = (e) => {  // every dispatched message, whatever its type
    if (e instanceof MessageEvent) event(e.type, String(e.data), e.lastEventId);
    return dispatch(e);
  };
  await new Promise((resolve) => {
    let left = request.reconnects;
    source.addEventListener("error", (e) => {
      if (e instanceof MessageEvent) return;  // an event named "error": data (dispatched above)
      if (source.readyState === source.CONNECTING && left-- > 0) return;  // a reconnect allowed
      source.close();
      if (e.message === undefined && e.code === undefined) emit({ end: "completed" });
      else emit({ end: "error", error_type: "eventsource.ErrorEvent", error_message: `${e.message} (${e.code})` });
      resolve();
    });
  });
}

async function fetchEventSource() {
  globalThis.window ??= globalThis;
  globalThis.document ??= { hidden: false, addEventListener() {}, removeEventListener() {} };
  const { fetchEventSource } = require("@microsoft/fetch-event-source");
  emit({ hello: true });
  let left = request.reconnects;
  try {
    await fetchEventSource(request.url, {
      method: request.method, headers: request.headers, body: request.body ?? undefined, openWhenHidden: true,
      onmessage(m) { event(m.event, m.data, m.id, m.retry); },
      onerror(error) {
        if (left-- > 0) return request.reconnect_ms;  // retry, as the README's onerror may
        throw error;
      },
    });
    emit({ end: "completed" });
  } catch (error) {
    emit({ end: "error", error_type: error?.constructor?.name ?? "Error", error_message: String(error?.message ?? error) });
  }
}

await ({ "node-eventsource": nodeEventsource, "fetch-event-source": fetchEventSource })[process.argv[2]]();
process.exit(0);
