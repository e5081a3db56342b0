/**
 * A slim bar that stays at the top of the window while the page scrolls (on a phone the settings are far above
 * the pictures): run state, step, and one Start/Pause button.
 */
import { useClient } from '../client-context';
import { checkForm } from '../run-config';
import { useAppStore } from '../store';

export function RunBar() {
  const client = useClient();
  const run = useAppStore((s) => s.run);
  const gpuReady = useAppStore((s) => s.gpu.state === 'ready');
  const valid = useAppStore((s) => checkForm(s.form).ok);
  const workerFailed = useAppStore((s) => s.worker === 'failed');
  const running = run.state === 'running';
  const busy = run.pending !== null || workerFailed;
  const steps = run.configuredForm?.steps;
  return (
    <div className="run-bar" data-testid="run-bar">
      <span className="run-bar-state">
        {run.runId ? (
          <>
            <strong>{run.state}</strong> · step {run.step}
            {steps ? ` of ${steps}` : ''}
          </>
        ) : gpuReady ? (
          'No run yet'
        ) : (
          'Training needs WebGPU'
        )}
      </span>
      <button
        type="button"
        className={running ? '' : 'primary'}
        disabled={running ? busy : !gpuReady || !valid || busy}
        onClick={() => void (running ? client.pause() : client.start())}
      >
        {running ? 'Pause' : run.runId && run.step > 0 && run.state !== 'finished' ? 'Resume' : 'Start'}
      </button>
    </div>
  );
}
