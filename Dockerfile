# Mirrors the tested build: Bun from the npm registry compiles dist/roomcast; the image runs only that file.
FROM node:20-bookworm-slim AS build
RUN npm install -g bun@1.4.5
WORKDIR /src
COPY package.json bun.lock bunfig.toml tsconfig.json ./
COPY patches ./patches
RUN bun install --frozen-lockfile
COPY src ./src
COPY web ./web
RUN bun run build && ./dist/roomcast --version

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/dist/roomcast /usr/local/bin/roomcast
WORKDIR /data
ENV RECORD_DIR=/data/recordings \
    DATA_DIR=/data \
    RTC_PORT_MIN=40000 \
    RTC_PORT_MAX=40000
VOLUME ["/data"]
EXPOSE 8080/tcp 40000/udp
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/roomcast"]
