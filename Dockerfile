# dim's processes in one image: `docker run dim api|worker|bridge|up`.
FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app /app
ENV NODE_ENV=production
# Runs as the image's unprivileged `node` user; the data dir is its own.
RUN mkdir -p /var/lib/dim && chown node:node /var/lib/dim
USER node
ENTRYPOINT ["node", "bin/dim.js"]
CMD ["up"]
