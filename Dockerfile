# The stockrx-migrate worker (see docker-compose.yml). TypeScript runs through tsx at runtime,
# exactly as on a developer machine, so there is no build step to drift from the sources.
FROM node:20-slim

ENV NODE_ENV=production
WORKDIR /app
# Run as the unprivileged `node` user; it owns /app so reports and state can be written.
RUN chown node:node /app
USER node

# Dependencies first: this layer is reused until package-lock.json changes.
COPY --chown=node:node package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY --chown=node:node . .
# Pre-create the mount points so named volumes inherit node's ownership.
RUN mkdir -p log/migrations .stockrx

EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.STOCKRX_METRICS_PORT || 9464) + '/metrics').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

CMD ["node", "bin/stockrx-migrate.js", "worker"]
