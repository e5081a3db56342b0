import { checkForm } from '../run-config';
import { useAppStore } from '../store';

export const START_REASON_ID = 'start-disabled-reason';

/**
 * Why Start cannot be pressed, and what to do about it: shown under the run buttons whenever Start is
 * disabled for a reason the user can act on (no WebGPU, still probing, a setting to fix).
 */
export function StartDisabledReason() {
  const gpu = useAppStore((s) => s.gpu);
  const form = useAppStore((s) => s.form);
  const check = checkForm(form);
  let reason: string | undefined;
  if (gpu.state === 'unavailable')
    reason =
      `Start is off because training needs WebGPU, and this page could not get it: ${gpu.reason} ` +
      'Everything else here works without it. To train, open this page in a browser with WebGPU, or run the ' +
      'same engine from a terminal: npm run train -- --preset tiny --data fashion.';
  else if (gpu.state === 'probing') reason = 'Start waits until a WebGPU adapter has been found…';
  else if (!check.ok) reason = `Start is off until this setting is fixed: ${check.message}`;
  if (!reason) return null;
  return (
    <p className="start-reason" id={START_REASON_ID} data-testid="start-disabled-reason" role="status">
      {reason}
    </p>
  );
}
