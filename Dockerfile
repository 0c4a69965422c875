# switchyard in a container: built (TypeScript and the native addons) in one stage, run from a
# slim one as an unprivileged user. Signaling and media are UDP port ranges: run it with
# --network host, or publish 5060/udp, 5060/tcp, 34567/udp and the whole media range.
#   docker build -t switchyard .
#   docker run --network host -v $PWD/proxy.config.ts:/etc/switchyard/proxy.config.ts:ro switchyard
FROM node:22-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# npm ci compiles dist/ (prepare) and the native addons (install); the runtime keeps production dependencies only.
RUN npm ci --no-audit --no-fund && node native/build.mjs && npm prune --omit=dev --no-audit --no-fund

FROM node:22-bookworm-slim
WORKDIR /opt/switchyard
COPY --from=build /src/package.json /src/proxy.config.ts ./
COPY --from=build /src/bin/switchyard.mjs ./bin/switchyard.mjs
COPY --from=build /src/dist ./dist
COPY --from=build /src/native/build ./native/build
COPY --from=build /src/node_modules ./node_modules
RUN mkdir -p /etc/switchyard /var/lib/switchyard && cp proxy.config.ts /etc/switchyard/ && chown -R node:node /var/lib/switchyard
# The registrations file: a volume here keeps them across containers.
ENV SWITCHYARD_STATE_DIR=/var/lib/switchyard
VOLUME /var/lib/switchyard
USER node
EXPOSE 5060/udp 5060/tcp 34567/udp 5000-5999/udp
# The admin listener stays on the container's loopback, where the health check runs.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD node -e "fetch('http://127.0.0.1:8060/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
ENTRYPOINT ["node", "/opt/switchyard/bin/switchyard.mjs"]
CMD ["--config", "/etc/switchyard/proxy.config.ts", "--no-watch"]
