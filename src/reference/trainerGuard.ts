/**
 * Twin of shaders/train_guard.wgsl: the trainer's last-good-state guard, one step at a time, written for
 * clarity. `health` is the sticky flag; `backups[i]` receives `currents[i]` while every step was finite.
 */

export function isFiniteF32(x: number): boolean {
  return Number.isFinite(x);
}

export interface GuardState {
  healthy: boolean;
  backups: Float64Array[];
}

/**
 * One step's guard: with `checkPrevious` false (first step after a (re)start) the flag resets; otherwise it
 * stays healthy only if the previous step's loss and gradient norm were finite. Healthy ⇒ backups ← currents.
 */
export function guardStep(
  state: GuardState,
  checkPrevious: boolean,
  previousLoss: number,
  previousGradNorm: number,
  currents: readonly ArrayLike<number>[],
): GuardState {
  let healthy = state.healthy;
  if (!checkPrevious) healthy = true;
  else if (!(isFiniteF32(previousLoss) && isFiniteF32(previousGradNorm))) healthy = false;
  const backups = state.backups.map((backup, i) =>
    healthy ? Float64Array.from(currents[i]) : Float64Array.from(backup),
  );
  return { healthy, backups };
}
