/**
 * RefCell checks Rust's borrow rules at run time. The classic bug in async code: a task takes a `Ref`,
 * holds it across an `await`, and meanwhile another task calls `borrowMut()`. With `{ track: true }`
 * the BorrowMutError says where the conflicting borrow was taken.
 */
import { BorrowMutError, RefCell } from "lockbox";

export async function main(): Promise<void> {
  const settings = new RefCell({ theme: "dark" }, { track: true });
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  function toggle(): void {
    try {
      const edit = settings.borrowMut();
      edit.value.theme = edit.value.theme === "dark" ? "light" : "dark";
      edit.release();
    } catch (error) {
      if (!(error instanceof BorrowMutError)) throw error;
      console.log(`${error.name}: ${error.message.split("\n").slice(0, 3).join("\n  ")}`);
    }
  }

  // #region tour
  async function render(): Promise<void> {
    const view = settings.borrow(); // taken here…
    await sleep(10); // …and held across an await
    console.log(`rendered with theme ${view.value.theme}`);
    view.release();
  }

  const rendering = render();
  toggle(); // runs while render() is suspended, still holding its Ref
  await rendering;
  toggle(); // the Ref is gone now: this one succeeds
  // #endregion tour
  const view = settings.borrow();
  console.log(`theme now ${view.value.theme}; borrow state while viewing: ${settings.borrowState}`);
  view.release();
  console.log(`borrow state after release: ${settings.borrowState}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
