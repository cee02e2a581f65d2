// Your own Node.js client as a faultproxy client, through the full JSON-lines protocol.
//
// The client under test is the `eventsource` package's EventSource, as an application would use
// it. Beside the events, the full protocol lets it report what the simple one cannot: each
// connection attempt with the Last-Event-ID it sent and its status, so faultproxy can judge
// whether a reconnect resumed at the right place. docs/clients.md describes every line.
//
//   faultproxy run --client-protocol full --client-cmd "node examples/node/client.mjs"
//
// The request comes as one JSON object on stdin ({"url", "method", "headers", "reconnect",
// "max_reconnects", ...}); each protocol line goes to stdout the moment it happens.
import { readFileSync, writeSync } from "node:fs";
import { EventSource } from "eventsource";

const request = JSON.parse(readFileSync(0, "utf8"));
const started = process.hrtime.bigint();
const now = () => Number(process.hrtime.bigint() - started) / 1e9;
const say = (message) => writeSync(1, JSON.stringify(message) + "\n"); // synchronous: nothing is lost on exit
const version = JSON.parse(readFileSync(new URL("./node_modules/eventsource/package.json", import.meta.url))).version;

say({ kind: "hello", client: "node-example", version, t0_monotonic: Number(started) / 1e9 });

// A fetch that reports each connection attempt: the Last-Event-ID the library sends, then the status.
let attempts = 0;
async function recordingFetch(url, init = {}) {
  const number = ++attempts;
  const lastEventId = new Headers(init.headers).get("last-event-id");
  say({ kind: "attempt", number, t: now(), last_event_id: lastEventId, status: null });
  const response = await fetch(url, init);
  say({ kind: "attempt", number, status: response.status });
  return response;
}

const allowed = request.reconnect ? request.max_reconnects : 0;
let reconnects = 0;
const source = new EventSource(request.url, { fetch: recordingFetch });
source.onmessage = (event) => {
  say({ kind: "event", type: event.type, data: event.data, id: event.lastEventId || null, t: now(),
        connection: attempts });
};
source.onerror = (event) => {
  if (source.readyState === source.CONNECTING && reconnects < allowed) {
    reconnects += 1; // the library reconnects by itself, sending Last-Event-ID
    return;
  }
  source.close();
  // No reconnect left (or the library gave up): a clean end of the body or a 204 (the server's
  // "stop") completes the run; a network error or an error status is what the application sees.
  const failed = event.code !== 204 && (event.message !== undefined || event.code !== undefined);
  say(failed
    ? { kind: "end", end: "error", error_type: "eventsource.ErrorEvent", error_message: event.message ?? `status ${event.code}` }
    : { kind: "end", end: "completed" });
  process.exit(0);
};
