/**
 * Call sites for reports: captured cheaply (an `Error` object; V8 formats its stack only when read) and
 * shown without lockbox's own frames, so that a report points at the user's code.
 *
 * @internal
 */

/** The directory of lockbox's own modules (`…/src/` or `…/dist/`), found from this module's own frame. */
const ownRoot: string | undefined = (() => {
  const line = (new Error().stack ?? "").split("\n")[1] ?? "";
  const file = /(?:\(|at )((?:file:\/\/)?\/[^():]+(?::[^():]+)*?):\d+:\d+\)?\s*$/.exec(line)?.[1];
  if (file === undefined) return undefined;
  const i = Math.max(file.lastIndexOf("/src/"), file.lastIndexOf("/dist/"));
  return i < 0 ? undefined : file.slice(0, file.indexOf("/", i + 1) + 1);
})();

/** Frames kept in a captured site: enough to get past lockbox's own frames and show the caller's. */
const CAPTURE_FRAMES = 40;
/** Frames shown per site in a report. */
const SHOWN_FRAMES = 8;

/** A call site, to be formatted only if a report needs it. */
export function captureSite(): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = CAPTURE_FRAMES;
  const site = new Error("call site");
  Error.stackTraceLimit = limit;
  return site;
}

/** The frames of `site` outside lockbox, indented, one per line. */
export function formatSite(site: Error | undefined, indent = "    "): string {
  if (site === undefined) return `${indent}(call site not recorded)`;
  const frames = (site.stack ?? "")
    .split("\n")
    .slice(1)
    .map((line) => line.trim())
    .filter(
      (line) =>
        line.startsWith("at ") &&
        !line.includes("node:internal/") &&
        (ownRoot === undefined || !line.includes(ownRoot)),
    );
  if (frames.length === 0) return `${indent}(no frames outside lockbox)`;
  return frames
    .slice(0, SHOWN_FRAMES)
    .map((line) => indent + line)
    .join("\n");
}
