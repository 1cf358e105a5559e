# coda-worker, CUDA variant for the GPU instances. Build from the repository root:
#   docker build -f infra/worker-cuda.Dockerfile -t coda-worker:cuda .
# The model files are installed from PyPI wheels at build time (no model hub downloads);
# the CUDA and cuDNN user-space libraries come from the base image. Not yet done: the
# installer pins the CPU `onnxruntime` wheel only, so this image runs the models on the
# CPU until an `onnxruntime-gpu` artifact is pinned (model_device=auto then picks CUDA).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin coda-worker --bin coda
RUN apt-get update && apt-get install -y --no-install-recommends python3-pip \
 && ./target/release/coda models install --dir /models --python python3

FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/coda-worker /usr/local/bin/coda-worker
COPY --from=build /models /models
ENV CODA_LOG_FORMAT=json \
    CODA_MODELS_DIR=/models \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
STOPSIGNAL SIGTERM
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/coda-worker"]
