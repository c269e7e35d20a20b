# The control plane for infra/docker-compose.yml: node:20, production dependencies from the
# lock file, the repo's TypeScript run by tsx (no build step). Build context: the repo root.
FROM node:20
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
RUN mkdir -p /data && chown node:node /data
USER node
ENV X0_DATA_DIR=/data
EXPOSE 8080
CMD ["npx", "x0", "up", "--host", "0.0.0.0", "--port", "8080"]
