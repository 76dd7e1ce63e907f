// The signed-in session and the API client that carries its token,
// available to every page through React context.
import { createContext, useContext, type ReactNode } from 'react';
import type { Awe } from '../api/awe';
import type { Identity } from './token';
import { permissionsOf, type Permissions } from './permissions';

export interface Session {
  identity: Identity;
  permissions: Permissions;
  /** 'token': a local login link; 'oidc': Keycloak. */
  mode: 'token' | 'oidc';
  signOut: () => void;
  awe: Awe;
}

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ session, children }: { session: Session; children: ReactNode }) {
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside SessionProvider');
  return session;
}

export function useAwe(): Awe {
  return useSession().awe;
}

export function makeSession(identity: Identity, mode: Session['mode'], signOut: () => void, awe: Awe): Session {
  return { identity, permissions: permissionsOf(identity.role), mode, signOut, awe };
}
