// awe's REST operations, typed: one function per endpoint of docs/rest.md,
// plus the reads awe does not offer yet (Optional: the page says so).
import { ApiClient, inList } from './client';
import { ApiError } from './errors';
import type {
  AweRequest, Delegation, Delivery, Endpoint, GroupMember, InboxItem, Optional, PolicyVersion, Principal,
  RequestRow, RoleGrant, Simulation, TimelineEvent, TimelineVerification, ValidationResult,
} from './types';

export interface InboxQuery {
  status?: string | null;
  artifact_type?: string;
  policy_key?: string;
  /** Keyset paging: the last row of the previous page. */
  after?: { created_at: string; task_id: string } | null;
  page_size?: number;
  /** Only this request's tasks (what the viewer may do there). */
  request_id?: string;
}

export interface Decision {
  task_id: string;
  decision: string;
  comment?: string;
  attachments?: unknown[];
  /** The action's form data; sent only when the action carries a form. */
  data?: Record<string, unknown>;
}

// The REST server's answers for a view or function it does not have
// (PostgREST's schema cache codes; PostgreSQL's for a relation or function
// that does not exist), as opposed to awe's own 404s (AWE-REQUEST-NOT-FOUND).
const MISSING_ENDPOINT = new Set(['PGRST205', 'PGRST202', 'PGRST200', '42P01', '42883']);

/** A view or function this server does not have. */
export function isMissingEndpoint(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404 && error.restCode !== null && MISSING_ENDPOINT.has(error.restCode);
}

async function optional<T>(read: () => Promise<T>): Promise<Optional<T>> {
  try {
    return { available: true, value: await read() };
  } catch (error) {
    if (isMissingEndpoint(error)) return { available: false };
    throw error;
  }
}

export function createAwe(api: ApiClient) {
  return {
    // Inbox and decisions ----------------------------------------------------
    inbox: (q: InboxQuery = {}) =>
      api.rpc<InboxItem[]>('inbox', {
        status: q.status === undefined ? 'open' : q.status,
        artifact_type: q.artifact_type || undefined,
        policy_key: q.policy_key || undefined,
        after_created_at: q.after?.created_at,
        after_task_id: q.after?.task_id,
        page_size: q.page_size === undefined ? undefined : String(q.page_size),
        request_id: q.request_id || undefined,
      }),
    decide: (d: Decision) =>
      api.rpc<AweRequest>('decide', {
        task_id: d.task_id,
        decision: d.decision,
        comment: d.comment || undefined,
        attachments: d.attachments,
        data: d.data,
      }),
    claim: (taskId: string) => api.rpc<AweRequest>('claim', { task_id: taskId }),
    release: (taskId: string) => api.rpc<AweRequest>('release', { task_id: taskId }),

    // Requests -----------------------------------------------------------------
    getRequest: (id: string) => api.rpc<AweRequest>('get_request', { request_id: id }),
    timeline: (id: string) => api.rpc<TimelineEvent[]>('timeline', { request_id: id }),
    verifyTimeline: (id: string) => api.rpc<TimelineVerification>('verify_timeline', { request_id: id }),
    comment: (id: string, body: string, taskId?: string) =>
      api.rpc<AweRequest>('comment', { request_id: id, body, task_id: taskId }),
    resubmit: (id: string, context: Record<string, unknown>, comment?: string) =>
      api.rpc<AweRequest>('resubmit', { request_id: id, context, comment: comment || undefined }),
    withdraw: (id: string, reason?: string) => api.rpc<AweRequest>('withdraw', { request_id: id, reason: reason || undefined }),
    cancel: (id: string, reason?: string) => api.rpc<AweRequest>('cancel', { request_id: id, reason: reason || undefined }),
    requests: (filter: { requester?: string; status?: string; policy_key?: string; limit?: number; offset?: number }) =>
      api.page<RequestRow>('requests', {
        requester: filter.requester ? `eq.${filter.requester}` : undefined,
        status: filter.status ? `eq.${filter.status}` : undefined,
        policy_key: filter.policy_key ? `eq.${filter.policy_key}` : undefined,
        order: 'updated_at.desc,request_id',
        limit: filter.limit ?? 50,
        offset: filter.offset || undefined,
      }),
    requestsByIds: (ids: string[]) =>
      ids.length === 0 ? Promise.resolve([] as RequestRow[]) : api.get<RequestRow>('requests', { request_id: inList(ids) }),

    // Policies -----------------------------------------------------------------
    policies: () => api.get<PolicyVersion>('policies', { order: 'policy_key,version.desc' }),
    policyVersions: (key: string) => api.get<PolicyVersion>('policies', { policy_key: `eq.${key}`, order: 'version.desc' }),
    validatePolicy: (definition: unknown) => api.rpc<ValidationResult>('validate_policy', { definition }),
    importPolicy: (document: string, format: 'yaml' | 'json') =>
      api.rpc<{ policy_key: string; version: number }>('import_policy', { document, format }),
    updatePolicyDraft: (key: string, version: number, definition: unknown) =>
      api.rpc<{ policy_key: string; version: number }>('update_policy_draft', { policy_key: key, version: String(version), definition }),
    activatePolicy: (key: string, version: number) =>
      api.rpc<Record<string, unknown>>('activate_policy', { policy_key: key, version: String(version) }),
    deactivatePolicy: (key: string) => api.rpc<Record<string, unknown>>('deactivate_policy', { policy_key: key }),
    simulate: (key: string, context: unknown, version?: number, requester?: string) =>
      api.rpc<Simulation>('simulate', {
        policy_key: key,
        context,
        version: version === undefined ? undefined : String(version),
        requester: requester || undefined,
      }),

    // Delegations and directory ----------------------------------------------------
    delegations: () => api.get<Delegation>('delegations', { order: 'starts_at.desc' }),
    setDelegation: (d: { delegate_id: string; starts_at: string; ends_at: string; reason?: string; principal_id?: string }) =>
      api.rpc<string>('set_delegation', { ...d, reason: d.reason || undefined, principal_id: d.principal_id || undefined }),
    revokeDelegation: (id: string) => api.rpc<null>('revoke_delegation', { delegation_id: id }),
    principals: () => api.get<Principal>('principals', { order: 'principal_id' }),
    roleGrants: () => api.get<RoleGrant>('role_grants', { order: 'role,principal_id' }),
    groupMembers: () => api.get<GroupMember>('group_members', { order: 'group_path,principal_id' }),
    directorySyncStatus: () => optional(() => api.get<Record<string, unknown>>('directory_sync_status')),

    // Operations -------------------------------------------------------------------
    endpoints: () => api.get<Endpoint>('endpoints', { order: 'created_at' }),
    rotateEndpointSecret: (id: string, overlap: string) =>
      api.rpc<{ secret: string } & Record<string, unknown>>('rotate_endpoint_secret', { endpoint_id: id, overlap }),
    setEndpointEnabled: (id: string, enabled: boolean, reason?: string) =>
      api.rpc<null>('set_endpoint_enabled', { endpoint_id: id, enabled: String(enabled), reason: reason || undefined }),
    deliveries: (filter: { status?: string; request_id?: string; limit?: number; offset?: number }) =>
      api.page<Delivery>('deliveries', {
        status: filter.status ? `eq.${filter.status}` : undefined,
        request_id: filter.request_id ? `eq.${filter.request_id}` : undefined,
        order: 'created_at.desc,delivery_id.desc',
        limit: filter.limit ?? 50,
        offset: filter.offset || undefined,
      }),
    /** How many deliveries of an endpoint are in a status (a count, no rows). */
    deliveryCount: async (status: string, endpointId?: string) =>
      (await api.page<Delivery>('deliveries', {
        status: `eq.${status}`,
        endpoint_id: endpointId ? `eq.${endpointId}` : undefined,
        select: 'delivery_id',
        limit: 1,
      })).total,
    replayDelivery: (deliveryId: number) => api.rpc<number>('replay_deliveries', { delivery_id: String(deliveryId) }),
    replayRequestDeliveries: (requestId: string) => api.rpc<number>('replay_deliveries', { request_id: requestId }),
    deliveryBacklog: () => optional(() => api.get<Record<string, unknown>>('delivery_backlog')),
    workerStatus: () => optional(() => api.get<Record<string, unknown>>('worker_status')),
    auditEvents: (limit = 100) =>
      optional(() => api.get<TimelineEvent & { request_id: string }>('events', { order: 'created_at.desc', limit })),
  };
}

export type Awe = ReturnType<typeof createAwe>;
