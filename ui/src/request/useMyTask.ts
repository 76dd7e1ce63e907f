// The viewer's own open task on a request and the actions the server
// allows on it. The inbox is where awe answers "what may I do": the row
// comes along when the page was opened from the inbox; otherwise the
// viewer's inbox is asked for this request's tasks.
import { useQuery } from '@tanstack/react-query';
import { normalizeActions, type TaskAction } from '../actions/taskAction';
import type { AweRequest, InboxItem } from '../api/types';
import { useSession } from '../auth/session';

export function useMyTask(request: AweRequest | undefined, fromInbox: InboxItem | undefined) {
  const { awe, identity, permissions } = useSession();
  const candidate = request?.tasks.find(
    (t) => t.status === 'open' && t.revision === request.revision && (t.assignee === identity.actor || t.task_id === fromInbox?.task_id),
  );
  const known = fromInbox && candidate && fromInbox.task_id === candidate.task_id ? fromInbox : undefined;
  const lookup = useQuery({
    queryKey: ['inbox', 'task', candidate?.task_id, request?.updated_at],
    enabled: !!candidate && !known && permissions.inbox,
    queryFn: async () => {
      const rows = await awe.inbox({ request_id: request!.request_id, page_size: 50 });
      return rows.find((r) => r.task_id === candidate!.task_id) ?? null;
    },
  });
  // Actions embedded in the request's tasks (when awe sends them) win.
  const item = known ?? lookup.data ?? null;
  const raw = candidate?.available_actions ?? (item && item.request_status === request?.status ? item.available_actions : null);
  const actions: TaskAction[] = normalizeActions(raw);
  return { task: candidate ?? null, actions };
}
