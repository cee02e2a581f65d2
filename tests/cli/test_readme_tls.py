"""The README's section "Put faultproxy in front of OpenAI or Anthropic": its commands, as written.

The offline block (the OpenAI mock posing as api.openai.com, the proxy in front of it through
--resolve, curl through the proxy) runs as a shell script, with only its fixed ports swapped for
free ones and the CA kept in a temporary config directory; the other blocks' ``faultproxy
proxy`` lines are checked to start (each prints its banner and the line for the SDKs)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
SECTION = "## Put faultproxy in front of OpenAI or Anthropic"


def blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n## ", len(SECTION))]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def env(tmp_path: Path) -> dict[str, str]:
    venv = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "FAULTPROXY_CONFIG_DIR": str(tmp_path / "config"),
        "PATH": f"{venv}:{os.environ['PATH']}",
    }


def test_the_offline_block_streams_through_the_tls_proxy_and_the_fault_cuts_it(tmp_path):
    offline = next(b for b in blocks() if "--resolve" in b)
    script = offline.replace(".venv/bin/faultproxy", "faultproxy")
    for fixed in sorted(set(re.findall(r"127\.0\.0\.1:(8\d{3})\b", script)) | {"8443"}):
        script = script.replace(fixed, str(free_port()))
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=60, env=env(tmp_path), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    events = [line for line in result.stdout.splitlines() if line.startswith("data: ")]
    assert len(events) == 3 and "[DONE]" not in result.stdout  # sse_disconnect:after_events=3, inside TLS


def test_every_proxy_command_of_the_section_starts_and_says_what_to_set(tmp_path):
    lines = [
        line
        for block in blocks()
        for line in block.splitlines()
        if line.startswith(".venv/bin/faultproxy proxy") and "--resolve" not in line
    ]
    assert len(lines) == 3  # openai, anthropic, forward
    for line in lines:
        argv = line.split("#")[0].split()[1:]
        argv[argv.index("--listen") + 1] = "127.0.0.1:0"
        proc = subprocess.Popen(
            [sys.executable, "-m", "faultproxy", *argv], stderr=subprocess.PIPE, text=True, env=env(tmp_path)
        )
        try:
            said = [proc.stderr.readline() for _ in range(3)]
        finally:
            proc.terminate()
            proc.wait(10)
        assert said[0].startswith("faultproxy: http://127.0.0.1:"), said
        assert (
            "OPENAI_BASE_URL=" in "".join(said)
            or "ANTHROPIC_BASE_URL=" in "".join(said)
            or "HTTPS_PROXY=" in said[1]
        )
