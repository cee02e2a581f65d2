"""The SSE conformance matrix: every client against the published conformance cases.

The cases (:mod:`~faultproxy.conformance.cases`) restate the web-platform-tests
``eventsource/`` parsing and request tests and LaunchDarkly's ``sse-contract-tests`` as
exact response bytes and the events the WHATWG algorithm derives from them (see
``docs/conformance.md``). :mod:`~faultproxy.conformance.chunking` cuts every body three ways;
:mod:`~faultproxy.conformance.runner` serves each case from a real local server and runs each
client through its adapter; :mod:`~faultproxy.conformance.judge` compares; and
:mod:`~faultproxy.conformance.report` draws the grid.
"""
