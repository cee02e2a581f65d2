// The child's half of faultproxy's client protocol, for Node.js children.
//
// The same contract as faultproxy/clients/protocol.py (read its docstring): the request is
// one JSON object on stdin; the child writes JSON Lines on stdout -- hello, attempt, event,
// disconnect, note, end -- each written synchronously the moment it happens, so whatever was
// received before a hang or a crash is kept. `t` is seconds since hello, from the monotonic
// clock (process.hrtime is CLOCK_MONOTONIC on Linux, the clock Python's time.monotonic()
// reads, so t0_monotonic is comparable with the lab server's timestamps).

import { readFileSync, writeSync } from "node:fs";

// Nothing a library prints may corrupt the protocol: console output goes to stderr.
for (const method of ["log", "info", "debug"]) {
  console[method] = (...args) => console.error(...args);
}

const NODE_MODULES = new URL("./node_modules/", import.meta.url);

// A proxy named in the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY), honoured as the Python
// clients honour it: Node's own fetch ignores these variables (before Node 24's
// NODE_USE_ENV_PROXY), so a Node user behind a proxy sets undici's EnvHttpProxyAgent as the
// global dispatcher -- as the children do here. Loaded only then: it costs start-up time.
const PROXY_VARIABLES = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"];
if (PROXY_VARIABLES.some((name) => process.env[name])) {
  const { EnvHttpProxyAgent, setGlobalDispatcher } = await import("undici");
  setGlobalDispatcher(new EnvHttpProxyAgent());
}

/** The exact version of an installed package, from its own package.json (null if absent). */
export function packageVersion(name) {
  try {
    return JSON.parse(readFileSync(new URL(`${name}/package.json`, NODE_MODULES), "utf8")).version ?? null;
  } catch {
    return null;
  }
}

/** The request: all of stdin, parsed. */
export async function readRequest() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const request = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  request.headers = request.headers ?? {};
  request.method = (request.method ?? "GET").toUpperCase();
  request.reconnects_allowed = request.reconnect ? Math.max(0, request.max_reconnects ?? 0) : 0;
  return request;
}

/** `package.ClassName` or the bare built-in name: undici.SocketError, TypeError, DOMException. */
export function errorName(error) {
  if (error === null || typeof error !== "object") return typeof error;
  const cls = error.constructor?.name || error.name || "Error";
  return typeof error.code === "string" && error.code.startsWith("UND_ERR") ? `undici.${cls}` : cls;
}

/** The error's message, or what describes it best. */
export function errorMessage(error) {
  if (error === null || typeof error !== "object") return String(error);
  let message = String(error.message || error.code || error);
  if (error instanceof DOMException) message = `${error.name}: ${message}`; // AbortError: This operation was aborted
  const code = typeof error.code === "string" ? error.code : null;
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

export class Emitter {
  constructor(client) {
    this.client = client;
    this.t0 = process.hrtime.bigint();
    this.connection = 0; // the attempt number events are attributed to
    this.attempts = 0;
    this.ended = false;
  }

  now() {
    return Number(process.hrtime.bigint() - this.t0) / 1e9;
  }

  write(message) {
    let data = Buffer.from(JSON.stringify(message) + "\n", "utf8");
    while (data.length > 0) {
      try {
        data = data.subarray(writeSync(1, data));
      } catch (error) {
        if (error.code !== "EAGAIN") throw error;
      }
    }
  }

  /** `reports`: the optional event fields this client's API exposes and the child reports (["retry"]). */
  hello(version, reports = []) {
    this.t0 = process.hrtime.bigint();
    const message = { kind: "hello", client: this.client, version, t0_monotonic: Number(this.t0) / 1e9 };
    if (reports.length) message.reports = reports;
    this.write(message);
  }

  /** A new attempt; returns its number. */
  attempt({ lastEventId = null, status = null } = {}) {
    this.attempts += 1;
    this.connection = this.attempts;
    this.write({
      kind: "attempt", number: this.attempts, t: this.now(), last_event_id: lastEventId || null, status,
    });
    return this.attempts;
  }

  /** An update of attempt `number` (its status once the response head is in). */
  update(number, { status }) {
    this.write({ kind: "attempt", number, status });
  }

  /** `fields`: the optional ones hello said it reports ({ retry }). */
  event(type, data, id, fields = {}) {
    this.write({
      kind: "event", type: type || "message", data: data ?? "", id: id || null, t: this.now(),
      connection: Math.max(this.connection, 1), ...fields,
    });
  }

  /** How connection `number` ended: "ended" (the body ended cleanly) or "error". */
  disconnect(number, ended, error = null) {
    const message = { kind: "disconnect", number, t: this.now(), ended };
    if (error !== null) {
      message.error_type = errorName(error);
      message.error_message = errorMessage(error);
      const cause = causes(error);
      if (cause) message.error_message += ` (${cause})`;
    }
    this.write(message);
  }

  note(text) {
    this.write({ kind: "note", text });
  }

  /** The LLM message the application ended up with: {text, tool_calls: [{name, arguments}], finish_reason, usage}
   * and, where the message orders its content, blocks: ["text" | "tool_call", ...] in that order. */
  message({ text = "", toolCalls = [], finishReason = null, usage = null, blocks = null }) {
    const line = { kind: "message", text, tool_calls: toolCalls, finish_reason: finishReason, usage };
    this.write(blocks ? { ...line, blocks } : line);
  }

  end(end, errorType = null, errorMessage = null) {
    if (this.ended) return;
    this.ended = true;
    this.write({ kind: "end", end, error_type: errorType, error_message: errorMessage });
  }
}

/** "caused by undici.SocketError: other side closed" for the chain of `cause`s under `error`. */
export function causes(error) {
  const parts = [];
  let cause = error?.cause;
  for (let depth = 0; cause && depth < 4; depth += 1, cause = cause.cause) {
    parts.push(`caused by ${errorName(cause)}: ${errorMessage(cause)}`);
  }
  return parts.join("; ");
}

/**
 * A fetch that records each connection: an attempt with the Last-Event-ID it sends, its
 * status once the response head is in, and how its body ended (the body is passed through
 * a stream that reports its end or its error before the library sees it).
 */
export function recordingFetch(out, { extraHeaders = {} } = {}) {
  return async (url, init = {}) => {
    const headers = new Headers(init.headers);
    for (const [name, value] of Object.entries(extraHeaders)) headers.set(name, value);
    const number = out.attempt({ lastEventId: headers.get("last-event-id") });
    let response;
    try {
      response = await fetch(url, { ...init, headers });
    } catch (error) {
      out.disconnect(number, "error", error);
      throw error;
    }
    out.update(number, { status: response.status });
    if (response.body === null) {
      out.disconnect(number, "ended");
      return response;
    }
    const reader = response.body.getReader();
    const body = new ReadableStream({
      async pull(controller) {
        let chunk;
        try {
          chunk = await reader.read();
        } catch (error) {
          out.disconnect(number, "error", error);
          controller.error(error);
          return;
        }
        if (chunk.done) {
          out.disconnect(number, "ended");
          controller.close();
        } else {
          controller.enqueue(chunk.value);
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    });
    Object.defineProperty(response, "body", { value: body });
    return response;
  };
}

/** Leave now: the run is reported; timers and sockets the library left behind do not matter. */
export function exit() {
  process.exit(0);
}
