/**
 * Installs the explorer's observer in lockbox's observer slot while at least one `explore` runs.
 *
 * @internal
 */

let installed = 0;

/** Installs (reference-counted) and returns the uninstaller. */
export function installExplorer(): () => void {
  installed++;
  let done = false;
  return () => {
    if (done) return;
    done = true;
    installed--;
  };
}
