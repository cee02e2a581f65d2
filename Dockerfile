# faultproxy in a container: the upstream SSE server and the probe of docker-compose.yml
# (any other faultproxy command works too: `docker build -t faultproxy . && docker run --rm faultproxy faults`).
FROM python:3.12-slim-bookworm
WORKDIR /src
COPY pyproject.toml README.md ./
COPY faultproxy ./faultproxy
RUN pip install --no-cache-dir . && rm -rf /src/build
ENTRYPOINT ["faultproxy"]
