/**
 * A small static server for the browser checks, on 127.0.0.1 and a random port:
 *
 * - `/` → test/browser/page/index.html
 * - `/dist/…` → the built package (dist/)
 * - `/page/name.js` → test/browser/page/name.ts, compiled on request with esbuild (types stripped)
 *
 * Every response carries `Cross-Origin-Opener-Policy: same-origin` and
 * `Cross-Origin-Embedder-Policy: require-corp`, so the page is cross-origin isolated and has
 * `SharedArrayBuffer`; workers load from the same origin, so they are isolated too.
 */
import { readFile } from "node:fs/promises";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, resolve, sep } from "node:path";
import { transform } from "esbuild";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".map": "application/json; charset=utf-8",
};

const ISOLATION = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Cache-Control": "no-store",
};

export interface TestServer {
  /** Origin, such as `http://127.0.0.1:43117`. */
  readonly url: string;
  close(): Promise<void>;
}

/** `base` joined with a URL path, or `undefined` when the path escapes `base`. */
function inside(base: string, path: string): string | undefined {
  const full = resolve(base, `.${path}`);
  return full.startsWith(base + sep) ? full : undefined;
}

/** Starts the server for the package at `root`. */
export async function startServer(root: string): Promise<TestServer> {
  const dist = resolve(root, "dist");
  const pages = resolve(root, "test/browser/page");

  async function respond(pathname: string, res: ServerResponse): Promise<void> {
    const send = (status: number, type: string, body: string | Buffer) => {
      res.writeHead(status, { ...ISOLATION, "Content-Type": type });
      res.end(body);
    };
    if (pathname === "/favicon.ico") return send(204, "text/plain; charset=utf-8", "");
    if (pathname === "/" || pathname === "/index.html") {
      return send(200, TYPES[".html"]!, await readFile(resolve(pages, "index.html")));
    }
    if (pathname.startsWith("/dist/")) {
      const file = inside(dist, pathname.slice("/dist".length));
      if (file) return send(200, TYPES[extname(file)] ?? "application/octet-stream", await readFile(file));
    }
    if (pathname.startsWith("/page/") && pathname.endsWith(".js")) {
      const file = inside(pages, `${pathname.slice("/page".length, -".js".length)}.ts`);
      if (file) {
        const { code } = await transform(await readFile(file, "utf8"), {
          loader: "ts",
          format: "esm",
          target: "es2022",
          sourcefile: file,
          sourcemap: "inline",
        });
        return send(200, TYPES[".js"]!, code);
      }
    }
    send(404, "text/plain; charset=utf-8", `not found: ${pathname}`);
  }

  const server = createServer((req, res) => {
    const { pathname } = new URL(req.url ?? "/", "http://localhost");
    respond(decodeURIComponent(pathname), res).catch((error: unknown) => {
      const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
      res.writeHead(missing ? 404 : 500, { ...ISOLATION, "Content-Type": "text/plain; charset=utf-8" });
      res.end(missing ? `not found: ${pathname}` : String(error));
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
