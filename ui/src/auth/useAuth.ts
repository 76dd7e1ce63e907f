// Signing in and out. Local token mode: the token from a login link
// (auth/token.ts). OIDC mode: oidc-client-ts's session, renewed silently.
import type { UserManager } from 'oidc-client-ts';
import { useCallback, useEffect, useRef, useState } from 'react';
import type { ConsoleConfig } from './config';
import { CALLBACK_PATH, createUserManager } from './oidc';
import { adoptToken, forgetToken } from './token';

export type AuthState =
  | { status: 'loading' }
  | { status: 'signed-out'; reason: string | null }
  | { status: 'signed-in'; token: string };

export function useAuth(config: ConsoleConfig) {
  const [state, setState] = useState<AuthState>({ status: 'loading' });
  const manager = useRef<UserManager | null>(null);
  const mode = config.oidc ? 'oidc' : 'token';

  useEffect(() => {
    let cancelled = false;
    const set = (s: AuthState) => { if (!cancelled) setState(s); };
    if (!config.oidc) {
      const token = adoptToken(window.location, window.sessionStorage, (url) => window.history.replaceState(null, '', url));
      set(token ? { status: 'signed-in', token } : { status: 'signed-out', reason: null });
      return () => { cancelled = true; };
    }
    void (async () => {
      try {
        const um = await createUserManager(config.oidc!);
        manager.current = um;
        um.events.addUserLoaded((user) => set({ status: 'signed-in', token: user.access_token }));
        um.events.addAccessTokenExpired(() => set({ status: 'signed-out', reason: 'The session has expired: sign in again.' }));
        if (window.location.pathname === CALLBACK_PATH) {
          const user = await um.signinRedirectCallback();
          const back = typeof user.state === 'string' ? user.state : '/';
          window.history.replaceState(null, '', back);
          set({ status: 'signed-in', token: user.access_token });
          return;
        }
        const user = await um.getUser();
        set(user && !user.expired ? { status: 'signed-in', token: user.access_token } : { status: 'signed-out', reason: null });
      } catch (error) {
        set({ status: 'signed-out', reason: `Sign-in failed: ${error instanceof Error ? error.message : String(error)}` });
      }
    })();
    return () => { cancelled = true; };
  }, [config.oidc]);

  const signIn = useCallback(() => {
    void manager.current?.signinRedirect({ state: window.location.pathname + window.location.search });
  }, []);

  const signOut = useCallback((reason: string | null = null) => {
    forgetToken(window.sessionStorage);
    if (manager.current) {
      void manager.current.removeUser();
      if (!reason) {
        void manager.current.signoutRedirect();
        return;
      }
    }
    setState({ status: 'signed-out', reason });
  }, []);

  return { state, mode: mode as 'token' | 'oidc', signIn, signOut };
}
