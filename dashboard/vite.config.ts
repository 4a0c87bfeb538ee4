/**
 * Builds the dashboard into dist/dashboard, which the primary serves on `server.dashboard.port`.
 * Hashed file names under assets/ let the server cache them for a year; index.html is never cached.
 */
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../dist/dashboard', import.meta.url)),
    emptyOutDir: true,
    // The CSP forbids inline scripts and styles: no inlined module preload polyfill or tiny assets as data: URLs in scripts.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
  },
});
