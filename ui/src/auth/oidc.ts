// Production login: OpenID Connect authorization code flow with PKCE
// (oidc-client-ts) against Keycloak. The access token goes to PostgREST as
// it is; PostgREST verifies it against the realm's keys.
import type { UserManager } from 'oidc-client-ts';
import type { OidcConfig } from './config';

export const CALLBACK_PATH = '/callback';

export async function createUserManager(config: OidcConfig): Promise<UserManager> {
  const { UserManager, WebStorageStateStore } = await import('oidc-client-ts');
  const origin = window.location.origin;
  const scopes = new Set(['openid', ...(config.scopes ?? 'profile').split(/\s+/).filter(Boolean)]);
  return new UserManager({
    authority: config.authority,
    client_id: config.client_id,
    redirect_uri: origin + CALLBACK_PATH,
    post_logout_redirect_uri: origin + '/',
    response_type: 'code', // PKCE is oidc-client-ts's default for the code flow
    scope: [...scopes].join(' '),
    userStore: new WebStorageStateStore({ store: window.sessionStorage }),
    automaticSilentRenew: true,
  });
}
