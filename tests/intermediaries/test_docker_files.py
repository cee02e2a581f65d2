"""docker-compose.yml, the Dockerfile and docker.conf, checked without a Docker engine.

The compose file is validated by Debian's ``docker-compose config`` (or Docker's ``docker compose
config``) where one is installed; every file it mounts or builds from must exist; docker.conf must
be what the cases make, and nginx must accept it; the SDK runner's reading of the compose file is
checked, and so is its one-line answer when no engine is reachable.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from faultproxy.bench.peers import NginxPeer
from faultproxy.intermediaries import nginx, repro
from faultproxy.intermediaries.docker_run import DockerUnavailable, engine, plan

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
FAULTPROXY = Path(sys.executable).with_name("faultproxy")


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def validator() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    return None


@pytest.mark.skipif(
    validator() is None,
    reason="no compose validator here: neither Debian's docker-compose "
    "(apt-get install docker-compose) nor Docker's compose plugin is installed",
)
def test_the_compose_file_is_valid_and_a_broken_one_is_not(tmp_path):
    done = subprocess.run(
        [*validator(), "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("    image: nginx:1.28", "    imag: nginx:1.28", 1))
    done = subprocess.run(
        [*validator(), "-f", str(broken), "config", "-q"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode != 0 and "imag" in done.stdout + done.stderr


def test_every_file_the_compose_file_mounts_or_builds_from_exists():
    services = compose()["services"]
    assert set(services) == {"upstream", "nginx-old", "nginx-new", "probe"}
    for name, service in services.items():
        if "build" in service:
            context = REPO / service["build"]
            assert (context / "Dockerfile").is_file(), name
            for line in (context / "Dockerfile").read_text().splitlines():
                if line.startswith("COPY "):
                    for source in line.split()[1:-1]:
                        assert (context / source).exists(), f"Dockerfile COPY {source}"
        for volume in service.get("volumes", []):
            host = volume.split(":")[0]
            assert (REPO / host).exists(), f"{name} mounts {host}, which does not exist"
    images = [s["image"] for s in services.values() if "image" in s]
    assert all(re.fullmatch(r"nginx:\d+\.\d+\.\d+-alpine", image) for image in images), images  # pinned


def test_the_nginx_images_are_one_on_the_old_defaults_and_one_on_the_new():
    services = compose()["services"]
    versions = {
        name: services[name]["image"].split(":")[1].split("-")[0] for name in ("nginx-old", "nginx-new")
    }
    assert nginx.upstream_hop(versions["nginx-old"]) == "HTTP/1.0"
    assert nginx.upstream_hop(versions["nginx-new"]) == "HTTP/1.1"
    probe = " ".join(services["probe"]["command"])
    for name, version in versions.items():
        assert f"{version}=http://{name}:8080" in probe  # the probe labels each with its real version


def test_docker_conf_is_made_from_the_cases():
    assert nginx.DOCKER_CONF.read_text() == nginx.docker_conf(repro.docker_locations()), (
        "regenerate: python -c 'from faultproxy.intermediaries import nginx, repro; "
        "nginx.DOCKER_CONF.write_text(nginx.docker_conf(repro.docker_locations()))'"
    )


@pytest.mark.skipif(NginxPeer().available() is not None, reason="nginx is not installed")
def test_nginx_accepts_docker_conf(tmp_path):
    """docker.conf with the container paths and host names swapped for local ones, through ``nginx -t``."""
    server = nginx.DOCKER_CONF.read_text().replace(nginx.DOCKER_ROUTES, str(nginx.ROUTES_DIR))
    server = server.replace("listen 8080;", "listen 127.0.0.1:8080;").replace(
        "http://upstream:", "http://127.0.0.1:"
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{\n{server}}}\n")
    done = subprocess.run(
        [NginxPeer().binary, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0 and "syntax is ok" in done.stderr, done.stderr


def test_the_sdk_runner_reads_the_compose_file_in_start_order():
    containers = plan(compose(), REPO)
    assert [c.service for c in containers][-1] == "probe" and containers[0].service == "upstream"
    old = next(c for c in containers if c.service == "nginx-old")
    assert old.image == "nginx:1.28.3-alpine" and old.build is None
    assert old.volumes[str(nginx.DOCKER_CONF)] == {"bind": "/etc/nginx/conf.d/default.conf", "mode": "ro"}
    assert all(c.build == REPO for c in containers if c.service in ("upstream", "probe"))
    with pytest.raises(ValueError, match="healthcheck not supported"):
        plan({"services": {"x": {"image": "a", "healthcheck": {}}}}, REPO)
    with pytest.raises(ValueError, match="depends_on cycle"):
        plan(
            {
                "services": {
                    "a": {"image": "a", "depends_on": ["b"]},
                    "b": {"image": "b", "depends_on": ["a"]},
                }
            },
            REPO,
        )


def test_without_an_engine_docker_says_so_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(DockerUnavailable, match="no Docker engine reachable"):
        engine()
    done = subprocess.run(
        [str(FAULTPROXY), "repro", "nginx", "--docker"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "without --docker" in done.stderr
