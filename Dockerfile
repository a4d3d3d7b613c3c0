# gk-export: the reader sidecar for Gatekeeper's disk export.
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/gk-export/gk-export:0.1.0 .
# (koffi, the only native dependency, ships prebuilt binaries for both in its
# @koromix/koffi-linux-x64 / -arm64 packages; nothing is compiled.)

# --- build: compile TypeScript with the full toolchain -------------------------------------
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- production dependencies only --------------------------------------------------------
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# --- runtime: distroless Node 24 (no shell, no package manager), non-root ----------------
# Distroless over node:24-slim: a much smaller attack surface for a pod-level sidecar, and
# the same glibc (Debian 12) that koffi's prebuilt binary and libc's flock(2) need.
FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
# Matches the Gatekeeper chart's exportSidecar securityContext (runAsUser 1000, runAsGroup 999).
USER 1000:999
# Writes nothing outside the mounted export volume and state dir: readOnlyRootFilesystem works.
ENV NODE_ENV=production
EXPOSE 9465
# A small young generation bounds resident memory while streaming (see src/cli.ts).
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=2", "/app/dist/cli.js"]
CMD ["read"]
