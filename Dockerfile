# syntax=docker/dockerfile:1
# egress-mtls: one image for every part (webhook, certs, provision); the chart passes the
# command. The runtime tree is assembled by scripts/build-runtime.sh, the same script that
# test/integration/runtime-tree.test.ts runs without a container engine.
#
#   docker build --build-arg RUNTIME_IMAGE=<your mirror>/distroless/nodejs24-debian12:nonroot \
#     -t REGISTRY/egress-mtls:0.1.0 .
#   docker run --rm REGISTRY/egress-mtls:0.1.0 --help
#
# RUNTIME_IMAGE has no default on purpose: name the distroless Node 24 "nonroot" image
# (Debian 12) from the registry or mirror your clusters pull from.

ARG BUILD_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE

# ---- build: npm ci + tsc, then the production-only runtime tree in /app -----
FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Dev dependencies (TypeScript) for the compile step; no install scripts are needed.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
COPY scripts/build-runtime.sh ./scripts/
RUN EGRESS_MTLS_CACHE=/tmp/egress-mtls-cache scripts/build-runtime.sh /app

# ---- runtime: distroless Node 24, no shell, non-root ---------------------------
FROM ${RUNTIME_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
# Owned by root, read-only for the process: the pods also run with a read-only root
# filesystem.
COPY --from=build --chown=0:0 /app /app
# distroless "nonroot" (numeric, so that Kubernetes' runAsNonRoot can verify it).
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["/nodejs/bin/node", "/app/bin/egress-mtls.js"]
CMD ["--help"]
