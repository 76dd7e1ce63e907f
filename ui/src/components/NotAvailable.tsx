// A part of the console that needs something the server does not offer yet.
import { Alert, Code, Text } from '@mantine/core';

export function NotAvailable({ what, needs }: { what: string; needs: string }) {
  return (
    <Alert color="gray" title={`${what}: not available`} data-testid="not-available">
      <Text size="sm">
        This awe server does not offer it yet; it needs <Code>{needs}</Code> in the REST API (docs/console.md).
      </Text>
    </Alert>
  );
}
