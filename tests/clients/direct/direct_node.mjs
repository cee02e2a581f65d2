// Each Node reference library used directly, as its README shows -- no faultproxy adapter.
// The same contract as direct_py.py: a JSON request on stdin; JSON Lines out, {"hello": true}, {"event": [...]}
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

// -- the LLM libraries: a neutral request {prompt, tools, max_tokens, usage}; besides their deltas
// they report the message the application ends up with ({"message": ...}).

const llm = () => JSON.parse(request.body || '{"prompt": "hi"}');
const timeout = () => (request.timeout_s == null ? 600_000 : request.timeout_s * 1000);
const report = (m) => emit({ message: { text: m.text, tool_calls: [...m.calls.values()], finish_reason: m.finish, usage: m.usage,
                                        ...(m.blocks ? { blocks: m.blocks } : {}) } });

// each LLM library loaded before its hello: the deadline runs from there
const PRELOAD = { "node-openai": ["openai"], "node-anthropic": ["@anthropic-ai/sdk"],
                  "vercel-ai-openai": ["ai", "@ai-sdk/openai"], "vercel-ai-anthropic": ["ai", "@ai-sdk/anthropic"] };

async function llmRun(body) {
  for (const name of PRELOAD[process.argv[2]] ?? []) require(name);
  emit({ hello: true });
  const m = { text: "", calls: new Map(), finish: null, usage: null };
  try {
    await body(m);
    report(m);
    emit({ end: "completed" });
  } catch (error) {
    report(m);
    emit({ end: "error", error_type: error?.constructor?.name ?? "Error", error_message: String(error?.message ?? error) });
  }
}

const call = (m, key, name, fragment) => {
  if (!m.calls.has(key)) m.calls.set(key, { name: "", arguments: "" });
  const c = m.calls.get(key);
  if (name) c.name = name;
  c.arguments += fragment ?? "";
};

async function nodeOpenAI(m) {
  const { default: OpenAI } = require("openai");
  const b = llm();
  const client = new OpenAI({ baseURL: request.url, apiKey: "sk-direct", maxRetries: 0, timeout: timeout() });
  const tools = (b.tools ?? []).map((t) => ({ type: "function", function: { name: t.name, parameters: t.parameters ?? {} } }));
  const stream = await client.chat.completions.create({
    model: "gpt-4o-mini", messages: [{ role: "user", content: b.prompt }], stream: true,
    ...(tools.length ? { tools } : {}), ...(b.usage ? { stream_options: { include_usage: true } } : {}),
  });
  for await (const chunk of stream) {
    if (chunk.usage) m.usage = { input_tokens: chunk.usage.prompt_tokens, output_tokens: chunk.usage.completion_tokens };
    for (const choice of chunk.choices ?? []) {
      if (choice.delta?.content) { event("delta", choice.delta.content); m.text += choice.delta.content; }
      for (const c of choice.delta?.tool_calls ?? []) call(m, c.index, c.function?.name, c.function?.arguments);
      if (choice.finish_reason) m.finish = choice.finish_reason;
    }
  }
}

async function nodeAnthropic(m) {
  const { default: Anthropic } = require("@anthropic-ai/sdk");
  const b = llm();
  const client = new Anthropic({ baseURL: request.url, apiKey: "sk-direct", maxRetries: 0, timeout: timeout() });
  const tools = (b.tools ?? []).map((t) => ({ name: t.name, input_schema: t.parameters ?? { type: "object" } }));
  const stream = await client.messages.create({
    model: "claude-sonnet-4-5", max_tokens: 1024, messages: [{ role: "user", content: b.prompt }], stream: true,
    ...(tools.length ? { tools } : {}),
  });
  for await (const e of stream) {
    if (e.type === "message_start") m.usage = { input_tokens: e.message.usage.input_tokens, output_tokens: e.message.usage.output_tokens };
    else if (e.type === "content_block_start" && e.content_block.type === "tool_use") call(m, e.index, e.content_block.name);
    else if (e.type === "content_block_delta" && e.delta.type === "text_delta") { event("delta", e.delta.text); m.text += e.delta.text; }
    else if (e.type === "content_block_delta" && e.delta.type === "input_json_delta") call(m, e.index, null, e.delta.partial_json);
    else if (e.type === "message_delta") {
      m.finish = e.delta?.stop_reason ?? m.finish;
      if (e.usage && m.usage) m.usage.output_tokens = e.usage.output_tokens;
    }
  }
}

async function vercel(m, provider) {
  const { streamText, jsonSchema, tool } = require("ai");
  const b = llm();
  const model = provider === "openai"
    ? require("@ai-sdk/openai").createOpenAI({ baseURL: request.url, apiKey: "sk-direct" })("gpt-4.1-mini")
    : require("@ai-sdk/anthropic").createAnthropic({ baseURL: request.url + "/v1", apiKey: "sk-direct" })("claude-sonnet-4-5");
  const tools = Object.fromEntries((b.tools ?? []).map((t) => [t.name, tool({ inputSchema: jsonSchema(t.parameters ?? { type: "object" }) })]));
  const result = streamText({ model, prompt: b.prompt, tools, maxRetries: 0,
                              ...(request.timeout_s != null ? { abortSignal: AbortSignal.timeout(timeout()) } : {}) });
  for await (const part of result.fullStream) {
    if (part.type === "text-delta") { event("delta", part.text); m.text += part.text; }
    else if (part.type === "tool-input-start") call(m, part.id, part.toolName);
    else if (part.type === "tool-input-delta") call(m, part.id, null, part.delta);
    else if (part.type === "tool-call" && !part.invalid) m.calls.set(part.toolCallId, { name: part.toolName, arguments: JSON.stringify(part.input) });
    else if (part.type === "finish") {
      m.finish = part.finishReason;
      const u = part.totalUsage ?? {};
      m.usage = u.outputTokens == null ? null : { input_tokens: u.inputTokens, output_tokens: u.outputTokens };
    } else if (part.type === "error") throw part.error;
    else if (part.type === "abort") throw Object.assign(new Error("aborted (timeout_s)"), { name: "TimeoutError" });
  }
  // the library's own content list, in its order
  m.blocks = (await result.content).filter((p) => p.type === "text" || p.type === "tool-call")
    .map((p) => (p.type === "text" ? "text" : "tool_call"));
}

const DRIVERS = {
  "node-eventsource": nodeEventsource, "fetch-event-source": fetchEventSource,
  "node-openai": () => llmRun(nodeOpenAI), "node-anthropic": () => llmRun(nodeAnthropic),
  "vercel-ai-openai": () => llmRun((m) => vercel(m, "openai")), "vercel-ai-anthropic": () => llmRun((m) => vercel(m, "anthropic")),
};
await DRIVERS[process.argv[2]]();
process.exit(0);
