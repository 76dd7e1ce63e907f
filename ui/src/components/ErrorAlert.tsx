// An error as the API said it: its AWE-… code and awe's message.
import { Alert, Code, List, Text } from '@mantine/core';
import { asApiError } from '../api/errors';

export function ErrorAlert({ error, title, hideProblems = false }: { error: unknown; title?: string; hideProblems?: boolean }) {
  if (!error) return null;
  const e = asApiError(error);
  const problems = hideProblems ? [] : e.problems;
  return (
    <Alert color="red" title={title ?? 'The request failed'} role="alert" data-testid="error-alert">
      <Text size="sm">
        {e.code && <Code mr={6} data-testid="error-code">{e.code}</Code>}
        {e.message}
      </Text>
      {problems.length > 0 && (
        <List size="sm" mt="xs">
          {problems.map((p, i) => (
            <List.Item key={i}>
              <Code>{p.path || '(document)'}</Code> {p.message}
            </List.Item>
          ))}
        </List>
      )}
    </Alert>
  );
}
