# The image the manifests and the Helm chart name (ghcr.io/vigil-obs/vigil): the static vigil
# binary (every role; the entrypoint) and vigil-agent (the agent alone, which the agent DaemonSet
# runs as its command) on distroless, as the non-root user 65532.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t ghcr.io/vigil-obs/vigil:dev .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/vigil ./cmd/vigil && \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/vigil-agent ./cmd/vigil-agent

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/vigil /usr/bin/vigil
COPY --from=build /out/vigil-agent /usr/bin/vigil-agent
USER 65532:65532
ENTRYPOINT ["/usr/bin/vigil"]
