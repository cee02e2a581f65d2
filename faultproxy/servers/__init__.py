"""Reference servers that faultproxy puts behind the proxy: each streams like the real thing
and logs ground truth.

- :mod:`.openai` -- :class:`~.openai.OpenAIServer`, a mock of the OpenAI API (Chat Completions,
  Responses, models) with seeded text, tool calls, usage and injectable errors.
- :mod:`.anthropic` -- :class:`~.anthropic.AnthropicServer`, a mock of the Anthropic Messages API.

Each server module exposes ``build(options) -> server`` and ``OPTIONS`` (name → (type, default,
help)) so a command line can map flags onto constructor options. Servers run under asyncio
(``async with``) or in a thread (:func:`faultproxy.net.stream_server.running_in_thread`);
what they meant and sent is in ``server.log``.
"""
