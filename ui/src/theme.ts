// Mantine theme. Text on colour keeps a 4.5:1 contrast (WCAG AA, checked
// by axe in the browser tests): filled buttons use darker shades, and the
// light and outline variants (badges) darken their text.
import { createTheme, defaultVariantColorsResolver, Notification, parseThemeColor, type VariantColorsResolver } from '@mantine/core';

const darkText = (color: string) => `color-mix(in srgb, var(--mantine-color-${color}-9) 70%, black)`;

export const variantColorResolver: VariantColorsResolver = (input) => {
  const colors = defaultVariantColorsResolver(input);
  if (input.variant !== 'light' && input.variant !== 'outline') return colors;
  const parsed = parseThemeColor({ color: input.color ?? input.theme.primaryColor, theme: input.theme });
  if (!parsed.isThemeColor || !parsed.color) return colors;
  const text = darkText(parsed.color);
  return input.variant === 'light'
    ? { ...colors, color: text, hoverColor: text }
    : { ...colors, color: text, hoverColor: text, border: `1px solid ${text}` };
};

export const theme = createTheme({
  primaryColor: 'blue',
  primaryShade: { light: 8, dark: 8 },
  autoContrast: true,
  variantColorResolver,
  components: {
    Notification: Notification.extend({ defaultProps: { closeButtonProps: { 'aria-label': 'Dismiss' } } }),
  },
  fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
});
