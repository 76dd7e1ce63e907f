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
  build: {
    // The main chunk is React + Mantine + the inbox (~160 kB gzipped); the editor loads on demand.
    chunkSizeWarningLimit: 600,
    // One chunk per heavy library family, so the inbox does not wait for the editor.
    rollupOptions: {
      output: {
        manualChunks(id: string) {
          if (id.includes('node_modules/@codemirror') || id.includes('node_modules/@uiw') || id.includes('node_modules/@lezer') || id.includes('react-codemirror-merge')) return 'editor';
          if (id.includes('node_modules/yaml')) return 'yaml';
          if (id.includes('node_modules/oidc-client-ts')) return 'oidc';
          return undefined;
        },
      },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test/setup.ts'],
  },
});
