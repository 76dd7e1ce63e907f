// Times as people read them: "in 3 h", "2 d ago", plus the full date on hover.

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
];

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto', style: 'short' });
const absolute = new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'short' });

export function fromNow(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '';
  const delta = new Date(iso).getTime() - now;
  for (const [unit, ms] of UNITS) {
    if (Math.abs(delta) >= ms) return relative.format(Math.round(delta / ms), unit);
  }
  return relative.format(Math.round(delta / 1000), 'second');
}

export function formatTime(iso: string | null | undefined): string {
  return iso ? absolute.format(new Date(iso)) : '';
}
