import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

// The dashboard: sources in web/, built into dist/web, served by `stepwise serve` at `/`.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  plugins: [preact()],
  publicDir: false,
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: true,
    target: 'es2022',
  },
  server: {
    // `npm run dev:web` against a `stepwise serve` on 8080.
    proxy: Object.fromEntries(
      ['/v1', '/api', '/docs', '/openapi.json'].map((path) => [path, 'http://localhost:8080']),
    ),
  },
});
