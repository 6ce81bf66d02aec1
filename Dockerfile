# syntax=docker/dockerfile:1
# umbra: sidecar reverse proxy for shadow traffic and dark launches.
#   docker build -t umbra .
#   docker run --rm -p 8080:8080 -v "$PWD/umbra.yaml:/etc/umbra/umbra.yaml:ro" umbra
# See docs/deploy.md.

# ---- build: compile TypeScript to dist/ ------------------------------------
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
# `npm ci` runs the `prepare` script (tsc -p tsconfig.build.json), which writes dist/.
RUN npm ci

# ---- runtime ---------------------------------------------------------------
FROM node:24-bookworm-slim
# tini is PID 1: it forwards SIGTERM to node (umbra drains on SIGTERM) and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# Production dependencies only; scripts off because `prepare` needs the dev-only tsc.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY config ./config
COPY src/admin/page ./src/admin/page
# A default config so the image starts; mount your own over it (a Kubernetes
# ConfigMap mounted on /etc/umbra is watched and hot-reloaded).
COPY config/umbra.yaml /etc/umbra/umbra.yaml
ENV UMBRA_CONFIG=/etc/umbra/umbra.yaml
# The image's `node` user (uid 1000).
USER node
# 8080 proxy listener, 9901 admin (/metrics /healthz /readyz /api).
EXPOSE 8080 9901
# No curl in the slim image: node's own fetch does the probe. The admin listener is
# on 127.0.0.1:9901 by default, which is where this runs.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9901/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# V8 sizes the young generation from the memory it sees: under the shipped pod's
# 256 MiB limit it picks 1-2 MiB, and umbra then spends 1.2-1.5 times the CPU per
# request, collecting it six times as often. 8 MiB semi-spaces (a 16 MiB young
# generation) cost 8-36 MB more at peak, still under half the limit
# (benchmarks/POD-MEMORY.md, docs/deploy.md "Sizing the umbra container"). The
# compare and capture workers set their own.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=8", "/app/bin/umbra.js"]
CMD ["serve"]
