// The one HTTP client of the console: awe's REST API (awe_api through
// PostgREST), same origin under /api. Functions are POST /rpc/<name> with
// named arguments; views are GET /<name> with PostgREST's filters.
import { ApiError, apiErrorFromResponse, unreachableError } from './errors';

export interface ApiClientOptions {
  /** Where PostgREST answers, `/api` behind the console's nginx. */
  baseUrl: string;
  /** The bearer token to send as it is (a Keycloak access token or a local one). */
  getToken: () => string | null;
  /** Called on a 401, so the session can end and the login page show. */
  onUnauthenticated?: (error: ApiError) => void;
  fetchImpl?: typeof fetch;
}

export type Query = Record<string, string | number | undefined>;

export interface Page<T> {
  rows: T[];
  /** Total rows matching, when the server counted them. */
  total: number | null;
}

export class ApiClient {
  private readonly options: ApiClientOptions;

  constructor(options: ApiClientOptions) {
    this.options = options;
  }

  /** POST /rpc/<name>. Arguments that are `undefined` are left out, so the function's default applies. */
  async rpc<T>(name: string, args: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<T> {
    const body: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(args)) if (value !== undefined) body[key] = value;
    const response = await this.send(`/rpc/${name}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    return (text ? JSON.parse(text) : null) as T;
  }

  /** GET /<view>?<query>: the rows. */
  async get<T>(view: string, query: Query = {}): Promise<T[]> {
    return (await this.page<T>(view, query, false)).rows;
  }

  /** GET /<view>?<query> with the total count (PostgREST `Prefer: count=exact`). */
  async page<T>(view: string, query: Query = {}, count = true): Promise<Page<T>> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.append(key, String(value));
    const qs = params.toString();
    const response = await this.send(`/${view}${qs ? `?${qs}` : ''}`, {
      method: 'GET',
      headers: count ? { Prefer: 'count=exact' } : {},
    });
    const rows = (await response.json()) as T[];
    return { rows, total: count ? totalFromContentRange(response.headers.get('Content-Range')) : null };
  }

  private async send(path: string, init: RequestInit): Promise<Response> {
    const token = this.options.getToken();
    const headers = new Headers(init.headers);
    headers.set('Accept', 'application/json');
    if (token) headers.set('Authorization', `Bearer ${token}`);
    let response: Response;
    try {
      response = await (this.options.fetchImpl ?? fetch)(`${this.options.baseUrl}${path}`, { ...init, headers });
    } catch {
      throw unreachableError();
    }
    if (!response.ok) {
      const error = apiErrorFromResponse(response.status, await response.text().catch(() => ''));
      if (response.status === 401) this.options.onUnauthenticated?.(error);
      throw error;
    }
    return response;
  }
}

// Content-Range "0-49/1234" gives 1234, "star/0" gives 0, an unknown total (star) gives null.
export function totalFromContentRange(header: string | null): number | null {
  if (!header) return null;
  const total = header.split('/')[1];
  if (!total || total === '*') return null;
  const n = Number(total);
  return Number.isFinite(n) ? n : null;
}

/** PostgREST's `in.(…)` list, quoting values so commas and parentheses survive. */
export function inList(values: string[]): string {
  return `in.(${values.map((v) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')})`;
}
