// Runtime configuration: /config.json next to the app, written by whoever
// deploys it (docs/console.md). Absent: local token mode, API under /api.
import { DEFAULT_CLAIM_NAMES, type ClaimNames } from './token';

export interface OidcConfig {
  /** The issuer, e.g. https://keycloak.example.com/realms/acme */
  authority: string;
  client_id: string;
  /** Space-separated; `openid` is always asked for. */
  scopes?: string;
}

export interface ConsoleConfig {
  apiBase: string;
  oidc: OidcConfig | null;
  claims: ClaimNames;
}

export const DEFAULT_CONFIG: ConsoleConfig = { apiBase: '/api', oidc: null, claims: DEFAULT_CLAIM_NAMES };

/** Reads a parsed config.json; anything missing or malformed falls back to the defaults. */
export function configFrom(raw: unknown): ConsoleConfig {
  if (!raw || typeof raw !== 'object') return DEFAULT_CONFIG;
  const r = raw as Record<string, unknown>;
  const oidc = r.oidc as Record<string, unknown> | undefined;
  const claims = (r.claims ?? {}) as Record<string, unknown>;
  const str = (v: unknown, fallback: string) => (typeof v === 'string' && v.trim() ? v.trim() : fallback);
  return {
    apiBase: str(r.api_base, DEFAULT_CONFIG.apiBase).replace(/\/$/, ''),
    oidc:
      oidc && typeof oidc.authority === 'string' && typeof oidc.client_id === 'string'
        ? { authority: oidc.authority, client_id: oidc.client_id, scopes: typeof oidc.scopes === 'string' ? oidc.scopes : undefined }
        : null,
    claims: {
      role: str(claims.role, DEFAULT_CLAIM_NAMES.role),
      tenant: str(claims.tenant, DEFAULT_CLAIM_NAMES.tenant),
      actor: str(claims.actor, DEFAULT_CLAIM_NAMES.actor),
    },
  };
}

export async function loadConfig(fetchImpl: typeof fetch = fetch): Promise<ConsoleConfig> {
  try {
    const response = await fetchImpl('/config.json', { cache: 'no-store' });
    // A missing file may come back as the app's index.html: only JSON counts.
    if (!response.ok || !(response.headers.get('Content-Type') ?? '').includes('json')) return DEFAULT_CONFIG;
    return configFrom(await response.json());
  } catch {
    return DEFAULT_CONFIG;
  }
}
