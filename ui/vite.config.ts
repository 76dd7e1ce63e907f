/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// In development (`npm run dev`) /api is proxied to the local REST server,
// as nginx does in front of the built files (scripts/console.sh).
export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      '/api': {
        target: process.env.AWE_REST_URL ?? 'http://127.0.0.1:54380',
        rewrite: (path) => path.replace(/^\/api/, ''),
      },
    },
  },
  // The main chunk is React, Mantine and the pages without an editor
  // (~210 kB gzipped); the policy editor (CodeMirror, yaml) and OIDC load
  // on first use (React.lazy, import()).
  build: { chunkSizeWarningLimit: 700 },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test/setup.ts'],
  },
});
