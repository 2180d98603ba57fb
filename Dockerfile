# syntax=docker/dockerfile:1

# Marketplace runs linux/amd64 images only. The builder runs on the build
# machine's own platform and cross-compiles (a static Go binary needs no
# emulation), and the binary and the final image are linux/amd64 whatever
# that platform is: an arm64 laptop builds the image Marketplace needs.
#
# The Go image is pinned to the `go` line of go.mod: a floating tag older
# than it cannot build the module with GOTOOLCHAIN=local.
FROM --platform=$BUILDPLATFORM golang:1.26.8 AS build
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
COPY metering/go.mod metering/go.sum ./metering/
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=linux GOARCH=amd64 CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /azure-vote .

# No shell, no package manager: the binary, CA certificates and time zones.
FROM --platform=linux/amd64 gcr.io/distroless/static-debian12:nonroot
COPY --from=build /azure-vote /azure-vote
# 65532 is "nonroot"; numeric so Kubernetes can verify runAsNonRoot.
USER 65532:65532
# The nonroot user's home: without REDIS the embedded store's ./data lands
# here, writable, so `docker run` alone works too.
WORKDIR /home/nonroot
# 8080 serves the pages; 9090 (METRICS_PORT) serves /metrics inside the
# cluster only.
EXPOSE 8080 9090
ENTRYPOINT ["/azure-vote"]
