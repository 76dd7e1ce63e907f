// Local login: `make demo` prints links like http://host/#token=<jwt>. The
// token is taken out of the fragment (which never reaches a server), kept in
// sessionStorage (this tab only) and the fragment is removed from the
// address bar. The console reads the token's claims only to choose what to
// show; the REST server verifies it and decides.

export const TOKEN_KEY = 'awe.console.token';

export interface Claims {
  [claim: string]: unknown;
  exp?: number;
}

/** Which claims name the role, tenant and actor (awe.tenant_claim, awe.actor_claim). */
export interface ClaimNames {
  role: string;
  tenant: string;
  actor: string;
}

export const DEFAULT_CLAIM_NAMES: ClaimNames = { role: 'role', tenant: 'tenant', actor: 'sub' };

function base64UrlDecode(part: string): string {
  const base64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
  const binary = atob(base64);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The payload of a JWT, unverified; null when it is not one. */
export function decodeClaims(token: string): Claims | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const claims = JSON.parse(base64UrlDecode(parts[1]));
    return claims && typeof claims === 'object' && !Array.isArray(claims) ? (claims as Claims) : null;
  } catch {
    return null;
  }
}

/** A claim by dotted path (`realm_access.role`), as awe reads awe.tenant_claim. */
export function claimAt(claims: Claims, path: string): unknown {
  let value: unknown = claims;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

export function isExpired(claims: Claims, nowSeconds = Date.now() / 1000): boolean {
  return typeof claims.exp === 'number' && claims.exp <= nowSeconds;
}

export interface Identity {
  actor: string;
  role: string;
  tenant: string;
  expiresAt: Date | null;
}

export function identityOf(claims: Claims, names: ClaimNames = DEFAULT_CLAIM_NAMES): Identity {
  const text = (v: unknown) => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
  return {
    actor: text(claimAt(claims, names.actor)),
    role: text(claimAt(claims, names.role)),
    tenant: text(claimAt(claims, names.tenant)),
    expiresAt: typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : null,
  };
}

/** The token in a `#token=…` fragment, if any (other fragment parameters are ignored). */
export function tokenFromFragment(hash: string): string | null {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const token = params.get('token');
  return token && token.trim() ? token.trim() : null;
}

export interface Location {
  hash: string;
  pathname: string;
  search: string;
}

/**
 * Takes a token from the address's fragment into storage and strips the
 * fragment (replace, so Back does not bring it back). Returns the token
 * now in effect: the new one, or the stored one while it has not expired.
 */
export function adoptToken(location: Location, storage: Storage, replaceUrl: (url: string) => void): string | null {
  const fresh = tokenFromFragment(location.hash);
  if (fresh) {
    storage.setItem(TOKEN_KEY, fresh);
    replaceUrl(location.pathname + location.search);
  }
  const token = storage.getItem(TOKEN_KEY);
  if (!token) return null;
  const claims = decodeClaims(token);
  if (!claims || isExpired(claims)) {
    storage.removeItem(TOKEN_KEY);
    return null;
  }
  return token;
}

export function forgetToken(storage: Storage): void {
  storage.removeItem(TOKEN_KEY);
}
