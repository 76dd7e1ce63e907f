// Every problem of the policy text, with its JSON path, line and code;
// choosing one puts the cursor there.
import { Alert, Badge, Code, List, Text, UnstyledButton } from '@mantine/core';
import type { LocatedProblem } from './locatedProblems';

export function ProblemList({ problems, onReveal }: { problems: LocatedProblem[]; onReveal: (p: LocatedProblem) => void }) {
  if (problems.length === 0) return null;
  return (
    <Alert color="red" title={`${problems.length} problem(s)`} data-testid="policy-problems">
      <List size="sm" spacing={4}>
        {problems.map((p, i) => (
          <List.Item key={i} data-testid="policy-problem" data-path={p.path}>
            <UnstyledButton onClick={() => onReveal(p)} aria-label={`Go to line ${p.line}: ${p.path || 'document'} ${p.message}`}>
              <Code>{p.path || '(document)'}</Code>{' '}
              <Badge size="xs" variant="outline" color="red.9">{p.code}</Badge>{' '}
              <Text span size="sm">{p.message}</Text>{' '}
              <Text span size="xs" c="dimmed">line {p.line}{p.exact ? '' : ' (missing here)'}</Text>
            </UnstyledButton>
          </List.Item>
        ))}
      </List>
    </Alert>
  );
}
