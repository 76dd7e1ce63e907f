import { describe, expect, it, vi } from 'vitest';
import { createAwe, isMissingEndpoint } from './awe';
import { ApiClient, inList, totalFromContentRange } from './client';
import { ApiError, apiErrorFromResponse } from './errors';

function respond(status: number, body: unknown, headers: Record<string, string> = {}) {
  return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
}

/** The error a call fails with (the test fails if it succeeds). */
function failure(call: Promise<unknown>): Promise<ApiError> {
  return call.then(() => { throw new Error('expected the call to fail'); }, (e: unknown) => e as ApiError);
}

function client(fetchImpl: typeof fetch, token: string | null = 'tok', onUnauthenticated = vi.fn()) {
  return { api: new ApiClient({ baseUrl: '/api', getToken: () => token, fetchImpl, onUnauthenticated }), onUnauthenticated };
}

const POLICY_INVALID = {
  code: 'PT422',
  message: 'AWE-POLICY-INVALID: the policy definition has 2 problem(s), first: stages[0].skipIf: unknown field',
  details: JSON.stringify({ code: 'AWE-POLICY-INVALID', details: { problems: [
    { path: 'stages[0].skipIf', code: 'unknown_field', message: 'unknown field "skipIf" (did you mean "skip_if"?)' },
    { path: 'stages[0].rules[0].type', code: 'value', message: 'unknown rule type "usr"' },
  ] } }),
  hint: 'details.problems lists every problem with its JSON path',
};

describe('ApiClient', () => {
  it('POSTs /rpc/<name> with named arguments and the bearer token, leaving undefined ones out', async () => {
    const fetchImpl = vi.fn(async () => respond(200, { status: 'approved' }));
    const { api } = client(fetchImpl as unknown as typeof fetch);
    const answer = await api.rpc('decide', { task_id: 't1', decision: 'approve', comment: undefined, attachments: null });
    expect(answer).toEqual({ status: 'approved' });
    const [url, init] = fetchImpl.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/rpc/decide');
    expect(init.method).toBe('POST');
    expect(JSON.parse(init.body as string)).toEqual({ task_id: 't1', decision: 'approve', attachments: null });
    expect(new Headers(init.headers).get('Authorization')).toBe('Bearer tok');
  });

  it('GETs views with PostgREST filters and reads the total from Content-Range', async () => {
    const fetchImpl = vi.fn(async () => respond(200, [{ request_id: 'r1' }], { 'Content-Range': '0-0/57' }));
    const awe = createAwe(client(fetchImpl as unknown as typeof fetch).api);
    const page = await awe.requests({ requester: 'sam', status: 'changes_requested' });
    expect(page).toEqual({ rows: [{ request_id: 'r1' }], total: 57 });
    const [url, init] = fetchImpl.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/requests?requester=eq.sam&status=eq.changes_requested&order=updated_at.desc%2Crequest_id&limit=50');
    expect(new Headers(init.headers).get('Prefer')).toBe('count=exact');
  });

  it('turns an AWE error into its code, message and details', async () => {
    const { api } = client((async () => respond(422, POLICY_INVALID)) as unknown as typeof fetch);
    const error = await failure(api.rpc('create_policy', { definition: {} }));
    expect(error).toBeInstanceOf(ApiError);
    expect(error.code).toBe('AWE-POLICY-INVALID');
    expect(error.status).toBe(422);
    expect(error.message).toBe('the policy definition has 2 problem(s), first: stages[0].skipIf: unknown field');
    expect(error.problems.map((p: { path: string }) => p.path)).toEqual(['stages[0].skipIf', 'stages[0].rules[0].type']);
  });

  it('tells the session on a 401 and names it AWE-UNAUTHENTICATED', async () => {
    const body = { code: 'PGRST301', message: 'JWT expired', details: null, hint: null };
    const { api, onUnauthenticated } = client((async () => respond(401, body)) as unknown as typeof fetch);
    const error = await failure(api.get('requests'));
    expect(error.code).toBe('AWE-UNAUTHENTICATED');
    expect(error.message).toBe('JWT expired');
    expect(onUnauthenticated).toHaveBeenCalledWith(error);
  });

  it('reports an unreachable API without inventing an AWE code', async () => {
    const { api } = client((async () => { throw new TypeError('Failed to fetch'); }) as unknown as typeof fetch);
    const error = await failure(api.rpc('inbox'));
    expect(error.code).toBeNull();
    expect(error.status).toBe(0);
  });

  it('sends no Authorization header without a token', async () => {
    const fetchImpl = vi.fn(async () => respond(200, []));
    await client(fetchImpl as unknown as typeof fetch, null).api.get('error_codes');
    const [, init] = fetchImpl.mock.calls[0] as unknown as [string, RequestInit];
    expect(new Headers(init.headers).has('Authorization')).toBe(false);
  });
});

describe('endpoints awe may not have yet', () => {
  it('an unknown view (PGRST205) is "not available", not an error', async () => {
    const missing = { code: 'PGRST205', message: "Could not find the table 'awe_api.worker_status' in the schema cache", details: null, hint: null };
    const awe = createAwe(client((async () => respond(404, missing)) as unknown as typeof fetch).api);
    await expect(awe.workerStatus()).resolves.toEqual({ available: false });
  });

  it('a view that answers is available', async () => {
    const awe = createAwe(client((async () => respond(200, [{ pid: 7 }])) as unknown as typeof fetch).api);
    await expect(awe.directorySyncStatus()).resolves.toEqual({ available: true, value: [{ pid: 7 }] });
  });

  it("awe's own 404s are errors", () => {
    const notFound = apiErrorFromResponse(404, JSON.stringify({ code: 'PT404', message: 'AWE-REQUEST-NOT-FOUND: no request x', details: '{"code":"AWE-REQUEST-NOT-FOUND","details":null}' }));
    expect(notFound.code).toBe('AWE-REQUEST-NOT-FOUND');
    expect(isMissingEndpoint(notFound)).toBe(false);
    expect(isMissingEndpoint(apiErrorFromResponse(404, '{"code":"PGRST202","message":"Could not find the function"}'))).toBe(true);
  });
});

describe('error answers', () => {
  it('takes the code from details when the message lacks it', () => {
    const e = apiErrorFromResponse(409, JSON.stringify({ code: 'PT409', message: 'the task is closed', details: '{"code":"AWE-TASK-CLOSED","details":{"status":"approved"}}' }));
    expect(e.code).toBe('AWE-TASK-CLOSED');
    expect(e.details).toEqual({ status: 'approved' });
  });

  it('never shows an HTML page or a long text as the message', () => {
    const e = apiErrorFromResponse(502, '<html><body>Bad Gateway</body></html>');
    expect(e.code).toBe('AWE-INTERNAL');
    expect(e.message).toBe('the server answered 502');
  });
});

describe('helpers', () => {
  it('totalFromContentRange', () => {
    expect(totalFromContentRange('0-49/1234')).toBe(1234);
    expect(totalFromContentRange('*/0')).toBe(0);
    expect(totalFromContentRange('0-49/*')).toBeNull();
    expect(totalFromContentRange(null)).toBeNull();
  });

  it('inList quotes values', () => {
    expect(inList(['a', 'b,c', 'd"e'])).toBe('in.("a","b,c","d\\"e")');
  });

  it('the inbox sends keyset paging as the function names it', async () => {
    const fetchImpl = vi.fn(async () => respond(200, []));
    const awe = createAwe(client(fetchImpl as unknown as typeof fetch).api);
    await awe.inbox({ status: null, policy_key: 'expense.report', after: { created_at: '2026-01-01T00:00:00Z', task_id: 't9' }, page_size: 50 });
    const [, init] = fetchImpl.mock.calls[0] as unknown as [string, RequestInit];
    expect(JSON.parse(init.body as string)).toEqual({
      status: null, policy_key: 'expense.report', after_created_at: '2026-01-01T00:00:00Z', after_task_id: 't9', page_size: '50',
    });
  });

  it('decide sends `data` only with a form', async () => {
    const fetchImpl = vi.fn(async () => respond(200, {}));
    const awe = createAwe(client(fetchImpl as unknown as typeof fetch).api);
    await awe.decide({ task_id: 't', decision: 'approve', comment: '' });
    await awe.decide({ task_id: 't', decision: 'approve', comment: 'ok', data: { cost_centre: 'CC-1' } });
    const bodies = fetchImpl.mock.calls.map((c) => JSON.parse((c as unknown as [string, RequestInit])[1].body as string));
    expect(bodies[0]).toEqual({ task_id: 't', decision: 'approve' });
    expect(bodies[1]).toEqual({ task_id: 't', decision: 'approve', comment: 'ok', data: { cost_centre: 'CC-1' } });
  });
});
