"""``kind: llm`` in scenarios: the mock of whichever API the client speaks.

A scenario with ``server: {kind: llm, ...}`` runs against every LLM client -- the OpenAI clients
get an :class:`~faultproxy.servers.openai.OpenAIServer`, the Anthropic ones an
:class:`~faultproxy.servers.anthropic.AnthropicServer` -- with the options both mocks share
(:data:`~faultproxy.servers._llm.COMMON_OPTIONS`: the answer, its pacing, and the misbehaviours).
"""

from __future__ import annotations

from typing import Any

from faultproxy.servers import anthropic, openai
from faultproxy.servers._llm import COMMON_OPTIONS, LLMMockServer

OPTIONS = COMMON_OPTIONS


def build(options: dict[str, Any], protocol: str | None = None) -> LLMMockServer:
    """The mock for a client speaking ``protocol`` (``anthropic-messages``, else OpenAI's)."""
    if protocol == "anthropic-messages":
        return anthropic.build(options)
    return openai.build(options)
