# syntax=docker/dockerfile:1

# One image for the whole system: /app/parser, /app/worker, /app/bot and /app/dmarket-sim.
# docker-compose.yml picks the binary per service with `command`; the default command is the parser.
#
#   docker build -t dmarket-monitor:local .
#   docker run --rm dmarket-monitor:local /app/bot -env-file /path/in/container.env
#
# The runtime stage is Alpine (not distroless) on purpose: busybox `wget` is what the container health
# checks use to call the ops endpoints (/healthz, /readyz), and `ca-certificates` / `tzdata` are needed for
# TLS to DMarket and Telegram.

# Base images at exact versions (the Go toolchain at least go.mod's). For reproducible pulls append the
# digest too, e.g. golang:1.26.8@sha256:<digest> (docker buildx imagetools inspect golang:1.26.8).
ARG GO_VERSION=1.26.8
ARG ALPINE_VERSION=3.22.1

# ---- build ------------------------------------------------------------------------------------------
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src

# Dependencies first, so that source edits do not invalidate the module download layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .

# Set by BuildKit for cross builds (docker buildx build --platform linux/arm64 ...); empty means native.
ARG TARGETOS
ARG TARGETARCH
# Build information printed by `<binary> -version` (make docker passes all three; .git is not in the
# build context, so nothing else can supply the commit).
ARG VERSION=dev
ARG COMMIT=unknown
ARG BUILD_DATE=unknown
ARG BUILDINFO=github.com/skinflip/dmarket-monitor/internal/platform/buildinfo
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X ${BUILDINFO}.version=${VERSION} -X ${BUILDINFO}.commit=${COMMIT} -X ${BUILDINFO}.date=${BUILD_DATE}" \
      -o /out/ ./cmd/... \
 && ls -l /out

# ---- runtime ----------------------------------------------------------------------------------------
FROM alpine:${ALPINE_VERSION}

RUN apk add --no-cache ca-certificates tzdata \
 && addgroup -S -g 10001 app \
 && adduser -S -D -H -u 10001 -G app -h /app app

WORKDIR /app
COPY --from=build /out/ /app/

# The parser reads its proxy list from the relative default utils_mount/dmarket_proxies.txt; compose mounts
# the host's utils_mount/ directory here (a directory mount, so edits on the host are seen and re-read).
RUN mkdir -p /app/utils_mount && chown app:app /app/utils_mount

USER 10001:10001

ENV LOG_FORMAT=json

# Default ops ports (HTTP_ADDR) of the parser, the worker and the bot.
EXPOSE 8081 8082 8083

# Liveness only; compose overrides this per service with /readyz on that service's port. HTTP_ADDR is
# ":PORT" or "HOST:PORT"; the port is whatever follows the last colon (default: the parser's :8081).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD wget -q -T 4 -O /dev/null "http://127.0.0.1:$(a="${HTTP_ADDR:-:8081}"; echo "${a##*:}")/healthz" || exit 1

CMD ["/app/parser"]
