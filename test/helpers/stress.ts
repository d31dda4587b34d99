/** The stress multiplier from LOCKBOX_STRESS (default 1; small in CI, raise it to search harder). */
export function stress(): number {
  const value = Number(process.env.LOCKBOX_STRESS ?? "1");
  return Number.isFinite(value) && value > 0 ? value : 1;
}
