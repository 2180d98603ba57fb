# syntax=docker/dockerfile:1

# Build on the builder's own platform and cross-compile: a static Go binary
# needs no emulation, so an arm64 laptop builds the amd64 image at full speed.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS=linux
ARG TARGETARCH=amd64
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /azure-vote .

# No shell, no package manager: the binary, CA certificates and time zones.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /azure-vote /azure-vote
# 65532 is "nonroot"; numeric so Kubernetes can verify runAsNonRoot.
USER 65532:65532
# The nonroot user's home: without REDIS the embedded store's ./data lands
# here, writable, so `docker run` alone works too.
WORKDIR /home/nonroot
EXPOSE 8080
ENTRYPOINT ["/azure-vote"]
