// Signed out. With OIDC configured: a button to sign in with Keycloak.
// Locally: how to get a login link (make demo prints one per demo user).
import { Alert, Button, Center, Code, Paper, Stack, Text, Title } from '@mantine/core';

export function LoginPage({ mode, reason, onSignIn }: { mode: 'token' | 'oidc'; reason: string | null; onSignIn?: () => void }) {
  return (
    <Center mih="100vh" p="md">
      <Paper withBorder p="xl" maw={520} w="100%" component="main">
        <Stack>
          <Title order={1}>awe console</Title>
          {reason && <Alert color="orange" role="alert">{reason}</Alert>}
          {mode === 'oidc' ? (
            <>
              <Text>Sign in with your organisation's account.</Text>
              <Button color="blue.8" onClick={onSignIn} data-autofocus>Sign in</Button>
            </>
          ) : (
            <>
              <Text>Open a login link to sign in. Locally, <Code>make demo</Code> prints one per demo user, like</Text>
              <Code block>{window.location.origin}/#token=…</Code>
              <Text size="sm" c="dimmed">The token stays in this tab only and is removed from the address bar.</Text>
            </>
          )}
        </Stack>
      </Paper>
    </Center>
  );
}
