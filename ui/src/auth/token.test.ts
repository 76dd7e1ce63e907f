import { beforeEach, describe, expect, it, vi } from 'vitest';
import { configFrom, loadConfig } from './config';
import { adoptToken, claimAt, decodeClaims, identityOf, isExpired, TOKEN_KEY, tokenFromFragment } from './token';

const b64url = (o: unknown) => Buffer.from(JSON.stringify(o), 'utf8').toString('base64url');
const jwt = (claims: Record<string, unknown>) => `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}.c2lnbmF0dXJl`;
const future = Math.floor(Date.now() / 1000) + 3600;

describe('claims', () => {
  it('decodes a JWT payload (base64url, UTF-8) without verifying it', () => {
    const token = jwt({ sub: 'zoë', role: 'awe_approver', tenant: 'expenses', exp: future });
    expect(decodeClaims(token)).toMatchObject({ sub: 'zoë', role: 'awe_approver', tenant: 'expenses' });
    expect(decodeClaims('not-a-token')).toBeNull();
    expect(decodeClaims('a.%%%.c')).toBeNull();
  });

  it('reads the identity by configurable (dotted) claim names', () => {
    const claims = { sub: 'k-123', preferred_username: 'mia', role: 'awe_admin', org: { tenant: 'acme' }, exp: future };
    expect(identityOf(claims)).toMatchObject({ actor: 'k-123', role: 'awe_admin', tenant: '' });
    const id = identityOf(claims, { role: 'role', tenant: 'org.tenant', actor: 'preferred_username' });
    expect(id).toMatchObject({ actor: 'mia', role: 'awe_admin', tenant: 'acme' });
    expect(id.expiresAt?.getTime()).toBe(future * 1000);
    expect(claimAt(claims, 'org.missing.deeper')).toBeUndefined();
  });

  it('knows an expired token', () => {
    expect(isExpired({ exp: 100 }, 200)).toBe(true);
    expect(isExpired({ exp: 300 }, 200)).toBe(false);
    expect(isExpired({}, 200)).toBe(false);
  });
});

describe('login links', () => {
  beforeEach(() => sessionStorage.clear());

  it('takes the token from #token=…, keeps it for the tab and strips it from the address', () => {
    const token = jwt({ sub: 'mia', role: 'awe_approver', tenant: 'expenses', exp: future });
    const replace = vi.fn();
    expect(adoptToken({ hash: `#token=${token}`, pathname: '/inbox', search: '?x=1' }, sessionStorage, replace)).toBe(token);
    expect(sessionStorage.getItem(TOKEN_KEY)).toBe(token);
    expect(replace).toHaveBeenCalledWith('/inbox?x=1');
    // Later loads find it in storage; the address is left alone.
    const again = vi.fn();
    expect(adoptToken({ hash: '', pathname: '/inbox', search: '' }, sessionStorage, again)).toBe(token);
    expect(again).not.toHaveBeenCalled();
  });

  it('drops an expired or unreadable token', () => {
    sessionStorage.setItem(TOKEN_KEY, jwt({ sub: 'mia', exp: 1 }));
    expect(adoptToken({ hash: '', pathname: '/', search: '' }, sessionStorage, vi.fn())).toBeNull();
    expect(sessionStorage.getItem(TOKEN_KEY)).toBeNull();
    sessionStorage.setItem(TOKEN_KEY, 'garbage');
    expect(adoptToken({ hash: '', pathname: '/', search: '' }, sessionStorage, vi.fn())).toBeNull();
  });

  it('reads only the token parameter of the fragment', () => {
    expect(tokenFromFragment('#token=abc&x=1')).toBe('abc');
    expect(tokenFromFragment('#/inbox')).toBeNull();
    expect(tokenFromFragment('')).toBeNull();
  });
});

describe('runtime configuration', () => {
  it('no config.json: local token mode under /api', async () => {
    const notFound = vi.fn(async () => new Response('<html></html>', { status: 404, headers: { 'Content-Type': 'text/html' } }));
    await expect(loadConfig(notFound as unknown as typeof fetch)).resolves.toMatchObject({ apiBase: '/api', oidc: null });
    // The SPA fallback answers index.html with 200: not JSON, so not a config.
    const html = vi.fn(async () => new Response('<html></html>', { status: 200, headers: { 'Content-Type': 'text/html' } }));
    await expect(loadConfig(html as unknown as typeof fetch)).resolves.toMatchObject({ oidc: null });
  });

  it('OIDC settings and claim names from config.json', () => {
    const config = configFrom({
      api_base: 'https://awe.example.com/api/',
      oidc: { authority: 'https://kc.example.com/realms/acme', client_id: 'awe-console', scopes: 'openid profile awe' },
      claims: { actor: 'preferred_username' },
    });
    expect(config).toEqual({
      apiBase: 'https://awe.example.com/api',
      oidc: { authority: 'https://kc.example.com/realms/acme', client_id: 'awe-console', scopes: 'openid profile awe' },
      claims: { role: 'role', tenant: 'tenant', actor: 'preferred_username' },
    });
    expect(configFrom({ oidc: { authority: 'x' } }).oidc).toBeNull();
  });
});
