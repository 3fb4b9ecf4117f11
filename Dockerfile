# Production image of Drydock. Build:  docker build -t drydock .
# Run (see README "Running in a container" for the Docker-socket trade-off).

# ---- builder: the stable toolchain, wasm-bindgen and npm; then the release
# build of the site (scripts/build-site.sh) and of the server. No cargo-leptos
# and no nightly toolchain.
FROM rust:1-bookworm AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends npm \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add wasm32-unknown-unknown \
 && cargo install wasm-bindgen-cli --version 0.2.130 --locked
WORKDIR /src
COPY . .
ENV LEPTOS_OUTPUT_NAME=drydock
RUN ./scripts/vendor-js.sh \
 && ./scripts/build-site.sh release \
 && cargo build --release -p drydock

# ---- runtime: a slim Debian with the binary, the site and the content
FROM debian:bookworm-slim
# busybox-static is the source of the offline lab base image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends busybox-static ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 drydock \
 && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin drydock \
 && mkdir -p /data && chown 10001:10001 /data
COPY --from=builder /src/target/release/drydock /usr/local/bin/drydock
COPY --from=builder /src/target/site /app/site
COPY --from=builder /src/content /app/content
WORKDIR /app
ENV DRYDOCK_BIND=0.0.0.0:3000 \
    DRYDOCK_PUBLIC_URL=http://127.0.0.1:3000 \
    DRYDOCK_SITE_ROOT=/app/site \
    DRYDOCK_CONTENT_DIR=/app/content \
    DATABASE_URL=sqlite:///data/drydock.db
# Only /data is written; the root filesystem can be mounted read-only.
VOLUME ["/data"]
USER 10001:10001
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/drydock", "health", "--addr", "127.0.0.1:3000"]
ENTRYPOINT ["/usr/local/bin/drydock"]
CMD ["serve"]
