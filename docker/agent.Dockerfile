# syntax=docker/dockerfile:1
# The heartbeat agent (one per node). Its config file is mounted and named on the command line:
#   docker run -v /etc/ha:/config:ro ha-agent --config /config/agent.yaml
# Build from the repository root:  docker build -f docker/agent.Dockerfile -t ha-agent .
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
# iputils-ping for check scripts that ping peers or gateways; tini as PID 1 so SIGTERM reaches the
# agent and the process groups of its scripts are reaped.
RUN apt-get update \
  && apt-get install -y --no-install-recommends iputils-ping tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
# The agent imports libs/ only (never the orchestrator), so only those two trees are shipped.
COPY --from=build /src/dist/apps/heartbeat-agent ./dist/apps/heartbeat-agent
COPY --from=build /src/dist/libs ./dist/libs
COPY package.json ./
# State file directory (epochs, roles, step log; mode 0600), owned by the non-root user so a named
# volume mounted here inherits the ownership.
RUN mkdir -p /var/lib/ha-agent && chown node:node /var/lib/ha-agent
VOLUME ["/var/lib/ha-agent"]
USER node
EXPOSE 7400
# Node flags: see AGENT_NODE_FLAGS in libs/contracts/src/agent-runtime.ts
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=1", "--v8-pool-size=1", "dist/apps/heartbeat-agent/src/main.js"]
CMD ["--config", "/config/agent.yaml"]
