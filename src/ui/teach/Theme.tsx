import { useEffect, useId } from 'react';
import { type ThemeChoice, useTeachStore } from './teach-store';

/** Applies the chosen theme to <html> (CSS follows the system when it is "system"). */
export function useThemeAttribute(): void {
  const theme = useTeachStore((s) => s.theme);
  useEffect(() => {
    if (theme === 'system') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = theme;
  }, [theme]);
}

export function ThemeSelect() {
  const theme = useTeachStore((s) => s.theme);
  const setTheme = useTeachStore((s) => s.setTheme);
  const id = useId();
  useThemeAttribute();
  return (
    <label htmlFor={id} className="theme-select">
      <span>Colours</span>
      <select
        id={id}
        data-testid="theme"
        value={theme}
        onChange={(e) => setTheme(e.target.value as ThemeChoice)}
      >
        <option value="system">as the system</option>
        <option value="light">light</option>
        <option value="dark">dark</option>
      </select>
    </label>
  );
}
