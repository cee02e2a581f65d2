"""``faultproxy explore``: the smallest fault schedule that breaks a client (see ``docs/explore.md``).

:mod:`~faultproxy.explore.space` draws schedules from the registered faults,
:mod:`~faultproxy.explore.properties` says what must hold and when the client is to blame,
:mod:`~faultproxy.explore.search` runs and shrinks with hypothesis, and
:mod:`~faultproxy.explore.cli` writes the scenario file and the reports.
"""
