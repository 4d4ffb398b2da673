import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` proxies the API to a running `flowlens demo` (FLOWLENS_URL, default :8080).
export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 2000 },
  server: {
    proxy: { "/api": process.env.FLOWLENS_URL ?? "http://127.0.0.1:8080" },
  },
  test: { include: ["src/**/*.test.ts"] },
});
