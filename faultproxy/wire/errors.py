"""The one error type the wire layer raises.

Every malformed input is reported with *what* is wrong and the absolute byte offset in
the stream where it was noticed, so a user can find the spot in a capture or hexdump.
"""


class WireError(ValueError):
    """Malformed bytes on the wire (strict mode), with the stream offset of the problem.

    ``status`` is the answer a server owes a *request* with this problem (RFC 9110 §15.5,
    §15.6): 400 for bytes that are not a valid request, 414 for a request line longer than the
    limit, 431 for a header line, a field count or a whole head over the limits (RFC 6585 §5),
    505 for an HTTP major version other than 1. A proxy answers with it; for a response it
    only says which kind of problem it is.
    """

    def __init__(self, reason: str, offset: int, status: int = 400):
        self.reason = reason
        self.offset = offset
        self.status = status
        super().__init__(f"{reason} (at byte {offset})")
