#!/usr/bin/env bash
# A curl-based client as a faultproxy client, through the simple protocol.
#
# curl streams the body (--no-buffer) and fails on an HTTP error (--fail); `faultproxy decode
# --json` turns the stream into one JSON line per event ({"type", "data", "id", "retry"}), which
# is the simple protocol's event line. With pipefail the pipeline's exit status is curl's when curl
# fails: 18 when the body was cut short, 22 for an error status, 28 when --max-time ran out -- and
# its message is the last line on stderr, which faultproxy reports. A stream that ends cleanly,
# even early, exits 0 (faultproxy then counts what is missing).
#
#   faultproxy run --client-cmd "bash examples/curl/client.sh {url}"
#
# FAULTPROXY says how to run faultproxy (default: the one on PATH).
set -euo pipefail
curl --silent --show-error --no-buffer --fail "$1" | ${FAULTPROXY:-faultproxy} decode --json
