# switchyard in a container: the package built from this checkout, its native addons compiled
# in a build stage, run as the unprivileged `node` user from /app with /app/proxy.config.ts.
#
#   docker build -t switchyard .
#   docker run --network host -v $PWD/proxy.config.ts:/app/proxy.config.ts:ro switchyard
#
# Host networking is the usual choice for a SIP proxy with a media relay: the relay's port range
# (5000-5999 by default) would otherwise need as many published ports, and SDP must carry an
# address the phones can reach (set `advertise` in the script when the host sits behind NAT).

FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN npm ci --no-audit --no-fund && npm pack --pack-destination /tmp
# The package as a user installs it; its install script compiles the addons against this image's node.
WORKDIR /app
RUN echo '{ "name": "switchyard-app", "private": true }' > package.json \
 && npm install --omit=dev --no-audit --no-fund /tmp/switchyard-*.tgz \
 && npx switchyard init \
 && npm cache clean --force

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=node:node /app /app
USER node
EXPOSE 34567/udp 5060/udp 5060/tcp 5000-5999/udp
STOPSIGNAL SIGTERM
CMD ["node", "node_modules/switchyard/bin/switchyard.mjs", "--config", "/app/proxy.config.ts"]
