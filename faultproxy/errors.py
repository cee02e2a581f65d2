"""The one kind of error that means "your input is wrong": a file, a flag, a definition.

Every such error (a scenario file, a fault spec, a client definition, a config file, a capture
or report that cannot be read) is an :class:`InputError` whose message says what is wrong and
where. Every ``faultproxy`` command turns it into exit status 2 (``docs/cli.md``), the status
click gives a bad flag, so a CI job can tell "the suite found a problem" (1) from "the suite
could not run" (2).
"""


class InputError(ValueError):
    """Input that cannot be used, said so that the user can fix it (exit status 2)."""
