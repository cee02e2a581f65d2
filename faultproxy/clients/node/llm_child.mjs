// The LLM clients on Node.js: the official SDKs and the Vercel AI SDK, one child per run.
//
//   node llm_child.mjs NAME   (NAME: node-openai, node-anthropic, vercel-ai-openai, vercel-ai-anthropic)
//
// The request's body is a neutral LLM request -- {prompt, tools: [{name, description, parameters}],
// max_tokens, usage, model} -- turned into each library's own call (the SDK clients also take a
// JSON object of create() parameters as it is). Every library is given a recording fetch, so
// attempts, statuses and how each body ended are seen; retries are the library's own, limited
// to the request's reconnect policy. Each reports the deltas it hands out as events (delta,
// tool_call, finish) and, at the end, the message the application ends up with: the SDK
// clients join the deltas as an application iterating the stream does; the Vercel AI SDK
// assembles it itself (its fullStream parts, which carry its tool-call parsing and usage).

import { Emitter, causes, errorMessage, errorName, exit, packageVersion, readRequest, recordingFetch } from "./protocol.mjs";

const CLIENTS = {
  "node-openai": { pkg: "openai", run: runOpenAI, model: "gpt-4o-mini" },
  "node-anthropic": { pkg: "@anthropic-ai/sdk", run: runAnthropic, model: "claude-sonnet-4-5" },
  "vercel-ai-openai": { pkg: "ai", run: (r, o) => runVercel(r, o, "openai"), model: "gpt-4.1-mini" },
  "vercel-ai-anthropic": { pkg: "ai", run: (r, o) => runVercel(r, o, "anthropic"), model: "claude-sonnet-4-5" },
};
const API_KEY = "sk-faultproxy-test";
const SCHEMA = { type: "object" };

const name = process.argv[2];
const client = CLIENTS[name];
if (!client) {
  console.error(`llm_child.mjs: unknown client ${name}; one of ${Object.keys(CLIENTS).join(", ")}`);
  process.exit(2);
}
const request = await readRequest();
const out = new Emitter(name);
out.hello(packageVersion(client.pkg));
out.note(`stack: node ${process.version} (its built-in fetch: undici ${process.versions.undici})`);

/** The message being assembled: text, tool calls by key, finish reason, usage, and -- where the
 * message orders its content -- its blocks ("text" | "tool_call") by position. */
const message = { text: "", tools: new Map(), finishReason: null, usage: null, blocks: null };
function block(position, kind) {
  message.blocks ??= new Map();
  if (!message.blocks.has(position)) message.blocks.set(position, kind);
}
function tool(key, name = null, fragment = "") {
  if (!message.tools.has(key)) message.tools.set(key, { name: "", arguments: "" });
  const call = message.tools.get(key);
  if (name) call.name = name;
  call.arguments += fragment ?? "";
}
function report() {
  const blocks = message.blocks && [...message.blocks.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
  out.message({ text: message.text, toolCalls: [...message.tools.values()], finishReason: message.finishReason,
                usage: message.usage, blocks });
}

/** The request body: create() parameters, or a neutral request; none at all means {prompt: "hi"}. */
function body() {
  const parsed = request.body ? JSON.parse(request.body) : { prompt: "hi" };
  delete parsed.stream;
  return parsed;
}

function neutralTools(tools) {
  return (tools ?? []).map((t) => ({ name: t.name, description: t.description ?? "", parameters: t.parameters ?? SCHEMA }));
}

function timeoutMs() {
  return request.timeout_s == null ? 600_000 : Math.round(request.timeout_s * 1000);
}

async function runOpenAI() {
  const { default: OpenAI } = await import("openai");
  const b = body();
  let params = b;
  if ("prompt" in b) {
    params = { model: b.model ?? client.model, messages: [{ role: "user", content: b.prompt }] };
    const tools = neutralTools(b.tools);
    if (tools.length) params.tools = tools.map((t) => ({ type: "function", function: t }));
    if (b.max_tokens) params.max_tokens = b.max_tokens;
    if (b.usage) params.stream_options = { include_usage: true };
  }
  const sdk = new OpenAI({ baseURL: request.url, apiKey: API_KEY, maxRetries: request.reconnects_allowed,
                           timeout: timeoutMs(), fetch: recordingFetch(out), defaultHeaders: request.headers });
  const stream = await sdk.chat.completions.create({ model: client.model, ...params, stream: true });
  for await (const chunk of stream) {
    if (chunk.usage) message.usage = { input_tokens: chunk.usage.prompt_tokens, output_tokens: chunk.usage.completion_tokens };
    for (const choice of chunk.choices ?? []) {
      const delta = choice.delta ?? {};
      if (delta.content) {
        out.event("delta", delta.content);
        message.text += delta.content;
      }
      for (const call of delta.tool_calls ?? []) {
        if (call.function?.arguments) out.event("tool_call", call.function.arguments);
        tool(call.index, call.function?.name, call.function?.arguments);
      }
      if (choice.finish_reason) {
        out.event("finish", choice.finish_reason);
        message.finishReason = choice.finish_reason;
      }
    }
  }
}

async function runAnthropic() {
  const { default: Anthropic } = await import("@anthropic-ai/sdk");
  const b = body();
  let params = b;
  if ("prompt" in b) {
    params = { model: b.model ?? client.model, max_tokens: b.max_tokens ?? 1024,
               messages: [{ role: "user", content: b.prompt }] };
    const tools = neutralTools(b.tools);
    if (tools.length) params.tools = tools.map((t) => ({ name: t.name, description: t.description, input_schema: t.parameters }));
  }
  const sdk = new Anthropic({ baseURL: request.url, apiKey: API_KEY, maxRetries: request.reconnects_allowed,
                              timeout: timeoutMs(), fetch: recordingFetch(out), defaultHeaders: request.headers });
  const stream = await sdk.messages.create({ model: client.model, max_tokens: 1024, ...params, stream: true });
  for await (const event of stream) {
    if (event.type === "message_start") {
      const u = event.message.usage;
      message.usage = { input_tokens: u.input_tokens, output_tokens: u.output_tokens };
    } else if (event.type === "content_block_start") {
      const kind = { text: "text", tool_use: "tool_call" }[event.content_block.type];
      if (kind) block(event.index, kind); // placed by the index the event carries
      if (event.content_block.type === "tool_use") tool(event.index, event.content_block.name);
    } else if (event.type === "content_block_delta") {
      if (event.delta.type === "text_delta") {
        out.event("delta", event.delta.text);
        message.text += event.delta.text;
      } else if (event.delta.type === "input_json_delta") {
        out.event("tool_call", event.delta.partial_json);
        tool(event.index, null, event.delta.partial_json);
      }
    } else if (event.type === "message_delta") {
      if (event.delta?.stop_reason) {
        out.event("finish", event.delta.stop_reason);
        message.finishReason = event.delta.stop_reason;
      }
      if (event.usage && message.usage) message.usage.output_tokens = event.usage.output_tokens;
    } else if (event.type === "message_stop") {
      out.event("stop", "");
    }
  }
}

async function runVercel(_request, _out, provider) {
  const { streamText, jsonSchema, tool: aiTool } = await import("ai");
  const b = body();
  if (!("prompt" in b)) throw new TypeError("the Vercel AI SDK clients take a neutral request: {prompt, tools, max_tokens}");
  let model;
  const options = { baseURL: request.url, apiKey: API_KEY, fetch: recordingFetch(out), headers: request.headers };
  if (provider === "openai") {
    const { createOpenAI } = await import("@ai-sdk/openai");
    model = createOpenAI({ ...options, baseURL: request.url })(b.model ?? client.model);
  } else {
    const { createAnthropic } = await import("@ai-sdk/anthropic");
    model = createAnthropic({ ...options, baseURL: request.url.replace(/\/$/, "") + "/v1" })(b.model ?? client.model);
  }
  const tools = {};
  for (const t of neutralTools(b.tools)) tools[t.name] = aiTool({ description: t.description, inputSchema: jsonSchema(t.parameters) });
  const result = streamText({
    model, prompt: b.prompt, tools, maxRetries: request.reconnects_allowed,
    ...(b.max_tokens ? { maxOutputTokens: b.max_tokens } : {}),
    ...(request.timeout_s != null ? { abortSignal: AbortSignal.timeout(timeoutMs()) } : {}),
    onError() {}, // the error part of fullStream reports it
  });
  let failure = null;
  // the blocks as the AI SDK records its content: a text part where it starts, a tool call where it completes
  let position = 0;
  for await (const part of result.fullStream) {
    if (part.type === "text-start") block(position++, "text");
    else if (part.type === "tool-call") block(position++, "tool_call");
    if (part.type === "text-delta") {
      out.event("delta", part.text);
      message.text += part.text;
    } else if (part.type === "tool-input-start") {
      tool(part.id, part.toolName);
    } else if (part.type === "tool-input-delta") {
      out.event("tool_call", part.delta);
      tool(part.id, null, part.delta);
    } else if (part.type === "tool-call") {
      const call = message.tools.get(part.toolCallId);
      if (part.invalid) out.note(`tool call ${part.toolName} marked invalid by the AI SDK: ${errorMessage(part.error)}`);
      if (call && !part.invalid) call.arguments = JSON.stringify(part.input);
      else if (!call) message.tools.set(part.toolCallId, { name: part.toolName, arguments: JSON.stringify(part.input) });
    } else if (part.type === "tool-error") {
      out.event("tool_error", errorMessage(part.error));
    } else if (part.type === "finish") {
      message.finishReason = part.finishReason;
      out.event("finish", part.finishReason);
      const u = part.totalUsage ?? {};
      message.usage = u.outputTokens == null ? null : { input_tokens: u.inputTokens, output_tokens: u.outputTokens };
    } else if (part.type === "error") {
      failure = part.error;
    } else if (part.type === "abort") {
      failure = Object.assign(new Error("the request's abort signal fired (timeout_s)"), { name: "TimeoutError" });
    }
  }
  if (failure) throw failure;
}

try {
  await client.run(request, out);
  report();
  out.end("completed");
} catch (error) {
  report();
  const cause = causes(error);
  if (cause) out.note(cause);
  const timedOut = error?.name === "TimeoutError" || error?.constructor?.name === "APIConnectionTimeoutError";
  out.end(timedOut ? "timeout" : "error", errorName(error), errorMessage(error));
}
exit();
