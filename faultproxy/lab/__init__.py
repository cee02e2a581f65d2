"""``faultproxy lab``: each protocol layer built by hand on raw sockets, the way a learner builds it.

One module per layer, smallest first: a TCP echo (:mod:`.echo`), an HTTP/1.1 server
(:mod:`.http_server`), chunked transfer coding on the wire (:mod:`.chunked`), how the three
ways of framing a body behave when the connection is cut (:mod:`.framing`), and a
Server-Sent Events server and reconnecting client (:mod:`.sse_server`, :mod:`.sse_client`).
The protocol parsing itself is :mod:`faultproxy.wire`; these modules do the I/O around it.
"""
