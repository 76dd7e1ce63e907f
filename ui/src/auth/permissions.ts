// What each REST role may do (docs/rest.md, Roles), so the console offers
// only what the server would accept. The server still checks every call.

export type AweRole = 'awe_viewer' | 'awe_approver' | 'awe_caller' | 'awe_admin';

export interface Permissions {
  /** Has an inbox: decide, claim, release. */
  inbox: boolean;
  /** Asks for approvals as a person: My requests (withdraw, resubmit). */
  myRequests: boolean;
  /** Reads every request of the tenant. */
  allRequests: boolean;
  readPolicies: boolean;
  editPolicies: boolean;
  simulate: boolean;
  /** Principals, roles, groups. */
  directory: boolean;
  /** Deliveries (read). */
  deliveries: boolean;
  /** Endpoints, replays. */
  operations: boolean;
  /** Own delegations (out of office). */
  ownDelegations: boolean;
  /** Anyone's delegations. */
  allDelegations: boolean;
  comment: boolean;
}

const NONE: Permissions = {
  inbox: false, myRequests: false, allRequests: false, readPolicies: false, editPolicies: false, simulate: false,
  directory: false, deliveries: false, operations: false, ownDelegations: false, allDelegations: false, comment: false,
};

export function permissionsOf(role: string): Permissions {
  switch (role) {
    case 'awe_approver':
      return { ...NONE, inbox: true, myRequests: true, ownDelegations: true, comment: true };
    case 'awe_admin':
      return {
        inbox: true, myRequests: true, allRequests: true, readPolicies: true, editPolicies: true, simulate: true,
        directory: true, deliveries: true, operations: true, ownDelegations: true, allDelegations: true, comment: true,
      };
    case 'awe_viewer':
      return { ...NONE, allRequests: true, readPolicies: true, simulate: true, directory: true, deliveries: true };
    case 'awe_caller':
      return { ...NONE, allRequests: true, readPolicies: true, simulate: true, deliveries: true, comment: true };
    default:
      return NONE;
  }
}

export const ROLE_LABEL: Record<string, string> = {
  awe_viewer: 'viewer',
  awe_approver: 'approver',
  awe_caller: 'caller',
  awe_admin: 'admin',
};
