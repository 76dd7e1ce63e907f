// The frame of every page: a header with who is signed in, navigation by
// role (a drawer at phone width), a skip link for keyboard users.
import { Anchor, AppShell, Badge, Burger, Button, Group, NavLink, Text, VisuallyHidden } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { Link, NavLink as RouterNavLink, Outlet, useLocation } from 'react-router';
import { ROLE_LABEL } from '../auth/permissions';
import { useSession } from '../auth/session';
import type { Permissions } from '../auth/permissions';

interface NavItem {
  to: string;
  label: string;
  visible: (p: Permissions) => boolean;
}

export const NAV: NavItem[] = [
  { to: '/inbox', label: 'Inbox', visible: (p) => p.inbox },
  { to: '/my-requests', label: 'My requests', visible: (p) => p.myRequests },
  { to: '/requests', label: 'Requests', visible: (p) => p.allRequests },
  { to: '/delegations', label: 'Delegations', visible: (p) => p.ownDelegations },
  { to: '/policies', label: 'Policies', visible: (p) => p.readPolicies },
  { to: '/directory', label: 'Directory', visible: (p) => p.directory },
  { to: '/operations', label: 'Operations', visible: (p) => p.deliveries },
];

export function AppLayout() {
  const { identity, permissions, signOut } = useSession();
  const [opened, { toggle, close }] = useDisclosure();
  const location = useLocation();
  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 210, breakpoint: 'sm', collapsed: { mobile: !opened } }} padding="md">
      <a href="#main" className="skip-link">Skip to content</a>
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="xs" wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Navigation" />
            <Anchor component={Link} to="/" fw={700} c="dark" underline="never">awe console</Anchor>
          </Group>
          <Group gap="xs" wrap="nowrap">
            <Text size="sm" truncate maw={160} data-testid="signed-in-as">
              <VisuallyHidden>Signed in as </VisuallyHidden>{identity.actor}
            </Text>
            <Badge variant="light" color="gray" visibleFrom="xs">{ROLE_LABEL[identity.role] ?? identity.role}</Badge>
            <Text size="sm" c="dimmed" visibleFrom="md">{identity.tenant}</Text>
            <Button size="xs" variant="default" onClick={signOut}>Sign out</Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" component="nav" aria-label="Main">
        {NAV.filter((n) => n.visible(permissions)).map((n) => (
          <NavLink key={n.to} component={RouterNavLink} to={n.to} label={n.label} onClick={close}
            active={location.pathname === n.to || location.pathname.startsWith(n.to + '/')} />
        ))}
      </AppShell.Navbar>
      <AppShell.Main id="main" tabIndex={-1}>
        <Outlet />
      </AppShell.Main>
    </AppShell>
  );
}
