# syntax=docker/dockerfile:1
# The orchestrator: API, detector, operation workers and (when DNS_PROVIDER=embedded) the DNS server.
# Build from the repository root:  docker build -f docker/orchestrator.Dockerfile -t ha-orchestrator .
ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: full install, compile TypeScript to dist/ ---
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY apps ./apps
COPY libs ./libs
RUN npm run build

# --- prod-deps: runtime dependencies only ---
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- runtime ---
FROM ${NODE_IMAGE} AS runtime
# iputils-ping: the orchestrator's ping checks run the system ping (unprivileged ICMP sockets,
# allowed by the net.ipv4.ping_group_range Docker sets). tini: PID 1 that forwards SIGTERM and reaps
# ping children.
RUN apt-get update \
  && apt-get install -y --no-install-recommends iputils-ping tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
# Non-root: the image's "node" user (uid 1000).
USER node
EXPOSE 8080
# DNS_PROVIDER=embedded serves DNS here (DNS_PORT, default 5353, UDP and TCP).
EXPOSE 5353/udp 5353/tcp
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||8080)+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/apps/orchestrator/src/main.js"]
