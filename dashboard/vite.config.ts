/**
 * Builds the dashboard into dist/dashboard, which the primary serves on `server.dashboard.port`.
 * Hashed file names under assets/ let the server cache them for a year; index.html is never cached.
 *
 * For development, `VELOFLUX_API=http://127.0.0.1:9090 npx vite --config dashboard/vite.config.ts`
 * (or `vite preview`) forwards /api/ and /api/ws/ to a running main API, as the primary's
 * dashboard server does, so the app keeps using same-origin relative URLs.
 */
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

const api = process.env.VELOFLUX_API;
const proxy = api === undefined ? undefined : { '/api': { target: api, ws: true, changeOrigin: false } };

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [react()],
  server: { proxy },
  preview: { proxy },
  build: {
    outDir: fileURLToPath(new URL('../dist/dashboard', import.meta.url)),
    emptyOutDir: true,
    // The CSP forbids inline scripts and styles: no inlined module preload polyfill or tiny assets as data: URLs in scripts.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
  },
});
