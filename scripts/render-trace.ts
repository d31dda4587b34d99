/**
 * Renders the trace of a contended program to SVG (docs/lock-trace.svg): the picture in
 * docs/debugging.md is generated from a real `takeTrace()`, not drawn.
 *
 * The program: six tasks share an account ledger (a Mutex) and a config (an RwLock): each reads the
 * config, then takes the ledger and, while holding it, reads the config again; one task rewrites the
 * config. One row per track of the trace (a scope, or a lock's acquires outside scopes), a light bar
 * for each wait and a dark one for each hold, labelled with the lock's name.
 *
 * Usage: `npx tsx scripts/render-trace.ts [out.svg]`. (The same trace as JSON, from `takeTrace()`,
 * opens in https://ui.perfetto.dev.)
 */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { disableDiagnostics, enableDiagnostics, type TraceEvent, takeTrace } from "../src/diagnostics/index.js";
import { Mutex, RwLock } from "../src/index.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function contended(): Promise<TraceEvent[]> {
  enableDiagnostics({ trace: true });
  const ledger = new Mutex(0, { name: "ledger" });
  const config = new RwLock({ rate: 1 }, { name: "config" });
  const task = async (i: number): Promise<void> => {
    const rate = await config.withRead((g) => g.value.rate);
    await ledger.withLock(async (g) => {
      await sleep(2 + (i % 3));
      await config.withRead(() => sleep(1));
      g.value += rate;
    });
  };
  const writer = async (): Promise<void> => {
    await sleep(6);
    await config.withWrite(async (g) => {
      await sleep(4);
      g.value = { rate: 2 };
    });
  };
  await Promise.all([...Array.from({ length: 6 }, (_, i) => task(i)), writer()]);
  const { traceEvents } = takeTrace();
  disableDiagnostics();
  return traceEvents;
}

function xml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function renderSvg(events: readonly TraceEvent[]): string {
  const spans = events.filter((e) => e.ph === "X");
  const names = new Map<number, string>();
  for (const e of events) if (e.ph === "M" && e.name === "thread_name") names.set(e.tid, String(e.args?.name));
  const tids = [...new Set(spans.map((e) => e.tid))].sort((a, b) => a - b);
  const t0 = Math.min(...spans.map((e) => e.ts));
  const t1 = Math.max(...spans.map((e) => e.ts + (e.dur ?? 0)));
  const left = 190;
  const width = 900;
  const row = 26;
  const top = 40;
  const height = top + tids.length * row + 40;
  const x = (ts: number): number => left + ((ts - t0) / Math.max(1, t1 - t0)) * (width - left - 20);
  const palette: Record<string, [string, string]> = {
    ledger: ["#f6c89f", "#d9480f"],
    config: ["#a5d8ff", "#1864ab"],
  };
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<title>lockbox trace: tasks waiting for and holding two locks</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="13" font-weight="bold">lockbox trace: 6 tasks on "ledger" (Mutex) and "config" (RwLock), one writer</text>`,
  ];
  tids.forEach((tid, i) => {
    const y = top + i * row;
    parts.push(`<text x="10" y="${y + 16}">${xml(names.get(tid) ?? `track ${tid}`)}</text>`);
    parts.push(`<line x1="${left}" x2="${width - 20}" y1="${y + row - 2}" y2="${y + row - 2}" stroke="#eee"/>`);
  });
  // A span inside another on its track (a nested scope's wait or hold) is drawn lower and thinner.
  const end = (e: TraceEvent): number => e.ts + (e.dur ?? 0);
  const depth = (e: TraceEvent): number =>
    spans.filter((o) => o !== e && o.tid === e.tid && o.ts <= e.ts && end(e) <= end(o)).length;
  for (const e of [...spans].sort((a, b) => depth(a) - depth(b))) {
    const i = tids.indexOf(e.tid);
    const lock = String(e.args?.lock ?? "");
    const [light, dark] = palette[lock] ?? ["#ddd", "#555"];
    const isWait = e.name.startsWith("wait ");
    const d = Math.min(2, depth(e));
    const y = top + i * row + 3 + d * 6;
    const h = row - 8 - d * 6;
    const x1 = x(e.ts);
    const w = Math.max(1, x(e.ts + (e.dur ?? 0)) - x1);
    parts.push(
      `<rect x="${x1.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${h}" fill="${isWait ? light : dark}" stroke="white" stroke-width="0.5"><title>${xml(e.name)}: ${((e.dur ?? 0) / 1000).toFixed(2)} ms</title></rect>`,
    );
    if (w > 55 && d === 0) {
      parts.push(
        `<text x="${(x1 + 3).toFixed(1)}" y="${y + h - 4}" fill="${isWait ? "#333" : "white"}">${xml(e.name)}</text>`,
      );
    }
  }
  const axisY = top + tids.length * row + 14;
  for (let k = 0; k <= 5; k++) {
    const ts = t0 + ((t1 - t0) * k) / 5;
    parts.push(
      `<text x="${x(ts).toFixed(1)}" y="${axisY}" text-anchor="middle" fill="#666">${((ts - t0) / 1000).toFixed(1)} ms</text>`,
    );
  }
  parts.push(
    `<text x="10" y="${axisY + 18}" fill="#666">light: waiting · dark: holding · one row per scope (or per lock, outside scopes)</text>`,
    "</svg>",
  );
  return `${parts.join("\n")}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = resolve(process.argv[2] ?? "docs/lock-trace.svg");
  const events = await contended();
  writeFileSync(out, renderSvg(events));
  console.log(`wrote ${out} (${events.filter((e) => e.ph === "X").length} spans)`);
}
