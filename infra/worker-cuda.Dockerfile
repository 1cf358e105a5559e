# coda-worker, CUDA variant for the GPU instances. Build from the repository root:
#   docker build -f infra/worker-cuda.Dockerfile -t coda-worker:cuda .
# The model jobs load ONNX Runtime from the PyPI `onnxruntime-gpu` wheel (no model hub
# downloads); the CUDA and cuDNN user-space libraries come from the base image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin coda-worker

FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/coda-worker /usr/local/bin/coda-worker
ENV CODA_LOG_FORMAT=json \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
STOPSIGNAL SIGTERM
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/coda-worker"]
