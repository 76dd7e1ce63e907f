// Shapes of awe's REST answers (docs/rest.md). Fields awe is adding
// (`summary`, action objects) are optional so both the current and the
// coming answers type-check.

/** What an action is, as the server sends it: a word today, an object soon. */
export type RawAction =
  | string
  | {
      action: string;
      label?: string | null;
      severity?: string | null;
      requires_comment?: boolean | null;
      form?: unknown;
    };

/** A request's summary: a generated one, or a policy's plain template text. */
export type Summary =
  | string
  | {
      text: string;
      impact?: string | null;
      risk?: 'low' | 'medium' | 'high' | null;
      model?: string | null;
      at?: string | null;
    };

export interface InboxItem {
  task_id: string;
  request_id: string;
  policy_key: string;
  policy_version: number;
  artifact_type: string;
  artifact_id: string;
  stage_index: number;
  stage: string | null;
  kind: string;
  required: boolean;
  status: string;
  assignee: string;
  delegated_from: string | null;
  due_at: string | null;
  claimed_by: string | null;
  created_at: string;
  request_status: string;
  requester: string | null;
  context: Record<string, unknown> | null;
  available_actions: RawAction[] | null;
  summary?: Summary | null;
}

export interface RequestStage {
  index: number;
  name: string;
  step: number;
  status: string;
}

export interface RequestTask {
  task_id: string;
  stage_index: number;
  stage: string | null;
  revision: number;
  assignee: string;
  delegated_from: string | null;
  kind: string;
  required: boolean;
  status: string;
  due_at: string | null;
  claimed_by: string | null;
  decided_by: string | null;
  decided_at: string | null;
  comment: string | null;
  /** What the approver added (the stage's decision_schema). */
  decision_data?: Record<string, unknown> | null;
  available_actions?: RawAction[] | null;
}

/** The request answer, one shape everywhere (get_request, decide, …). */
export interface AweRequest {
  request_id: string;
  status: string;
  revision: number;
  policy_key: string;
  policy_version: number;
  artifact_type: string;
  artifact_id: string;
  requester: string | null;
  callback_url: string | null;
  context: Record<string, unknown>;
  created_by: string;
  created_at: string;
  updated_at: string;
  decided_at: string | null;
  expires_at: string | null;
  stages: RequestStage[];
  tasks: RequestTask[];
  summary?: Summary | null;
}

/** A row of GET /requests. */
export interface RequestRow {
  request_id: string;
  policy_key: string;
  policy_version: number;
  artifact_type: string;
  artifact_id: string;
  status: string;
  revision: number;
  requester: string | null;
  context: Record<string, unknown>;
  stage_status: string[] | null;
  created_by: string;
  created_at: string;
  updated_at: string;
  decided_at: string | null;
  expires_at: string | null;
  summary?: Summary | null;
}

export interface TimelineEvent {
  seq: number;
  event_id: string;
  type: string;
  actor: string;
  stage_index: number | null;
  stage: string | null;
  task_id: string | null;
  status: string | null;
  data: Record<string, unknown> | null;
  created_at: string;
}

export interface TimelineVerification {
  valid: boolean;
  events?: number;
  broken_at?: unknown;
  divergences?: unknown[];
  [key: string]: unknown;
}

export interface PolicyVersion {
  policy_key: string;
  version: number;
  status: 'draft' | 'active' | 'archived' | string;
  artifact_type: string;
  title: string | null;
  definition: Record<string, unknown>;
  created_by: string | null;
  created_at: string;
  activated_at: string | null;
  archived_at: string | null;
}

export interface ValidationResult {
  valid: boolean;
  problems: { path: string; code: string; message: string }[];
}

export interface SimulatedApprover {
  principal: string;
  delegated_from: string | null;
  kind: string;
  required: boolean;
}

export interface SimulatedStage {
  index: number;
  name: string;
  step: number;
  outcome: 'runs' | 'skipped' | 'resolving' | 'empty' | string;
  reason: string | null;
  approvers: SimulatedApprover[];
  excluded: { principal: string; reason: string }[];
}

export interface Simulation {
  policy_key: string;
  version: number;
  context_problems: { path: string; message: string }[];
  prediction: 'approved_at_once' | 'blocked' | 'needs_review' | string;
  stages: SimulatedStage[];
}

export interface Endpoint {
  endpoint_id: string;
  url: string;
  description: string | null;
  enabled: boolean;
  disabled_reason: string | null;
  created_at: string;
  active_secrets: number;
}

export interface Delivery {
  delivery_id: number;
  request_id: string;
  seq: number;
  event_id: string;
  event_type: string;
  endpoint_id: string | null;
  url: string;
  status: 'pending' | 'delivered' | 'dead' | string;
  attempts: number;
  next_attempt_at: string | null;
  first_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
}

export interface Delegation {
  delegation_id: string;
  principal_id: string;
  delegate_id: string;
  starts_at: string;
  ends_at: string;
  reason: string | null;
  created_by: string | null;
  created_at: string;
  revoked_at: string | null;
  active: boolean;
}

export interface Principal {
  principal_id: string;
  display_name: string | null;
  email: string | null;
  attributes: Record<string, unknown> | null;
  active: boolean;
  created_at: string;
  updated_at: string;
}

export interface RoleGrant {
  role: string;
  principal_id: string;
}

export interface GroupMember {
  group_path: string;
  principal_id: string;
}

/** Answers of endpoints awe may not have yet (docs/console.md lists them). */
export type Optional<T> = { available: true; value: T } | { available: false };
