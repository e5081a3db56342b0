import { useAppStore } from '../store';

/** The sentences the run produced (pauses, rollbacks, device losses, bad files, refused settings). */
export function Notices() {
  const notices = useAppStore((s) => s.notices);
  const dismiss = useAppStore((s) => s.dismissNotice);
  if (notices.length === 0) return null;
  return (
    <ul className="notices" aria-live="polite">
      {notices.map((n) => (
        <li
          key={n.id}
          className={`notice ${n.tone}`}
          data-testid="notice"
          data-kind={n.kind}
          data-tone={n.tone}
        >
          <span>{n.text}</span>
          <button type="button" aria-label="Dismiss" onClick={() => dismiss(n.id)}>
            ×
          </button>
        </li>
      ))}
    </ul>
  );
}
