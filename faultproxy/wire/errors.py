"""The one error type the wire layer raises.

Every malformed input is reported with *what* is wrong and the absolute byte offset in
the stream where it was noticed, so a user can find the spot in a capture or hexdump.
"""


class WireError(ValueError):
    """Malformed bytes on the wire (strict mode), with the stream offset of the problem."""

    def __init__(self, reason: str, offset: int):
        self.reason = reason
        self.offset = offset
        super().__init__(f"{reason} (at byte {offset})")
