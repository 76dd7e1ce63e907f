// The approver's inbox: their open tasks (and those delegated to them),
// keyset-paged as the inbox function pages, with filters, SLA state, the
// typed actions as buttons, claim/release and bulk approve.
import { Alert, Button, Group, Loader, Stack, Text, Title } from '@mantine/core';
import { keepPreviousData, queryOptions, useQuery } from '@tanstack/react-query';
import type { Awe } from '../api/awe';
import { useEffect, useMemo, useState } from 'react';
import { bulkApprovable, normalizeActions } from '../actions/taskAction';
import type { InboxItem } from '../api/types';
import { useAwe } from '../auth/session';
import { ErrorAlert } from '../components/ErrorAlert';
import { BulkApprove } from '../inbox/BulkApprove';
import { DEFAULT_FILTER, InboxFilters, type InboxFilter } from '../inbox/InboxFilters';
import { InboxRow } from '../inbox/InboxRow';

export const INBOX_PAGE_SIZE = 50;

type Cursor = { created_at: string; task_id: string } | null;

/** One inbox page; also used at start-up to ask for the first page before the app has rendered. */
export function inboxQuery(awe: Awe, filter: InboxFilter, cursor: Cursor) {
  return queryOptions({
    queryKey: ['inbox', filter, cursor],
    queryFn: () => awe.inbox({ ...filter, after: cursor, page_size: INBOX_PAGE_SIZE }),
  });
}

export function InboxPage() {
  const awe = useAwe();
  const [filter, setFilter] = useState<InboxFilter>(DEFAULT_FILTER);
  // The cursors of the pages seen so far: the last one is the page shown.
  const [cursors, setCursors] = useState<Cursor[]>([null]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const cursor = cursors[cursors.length - 1];

  const query = useQuery({ ...inboxQuery(awe, filter, cursor), placeholderData: keepPreviousData });

  const rows = useMemo(
    () => (query.data ?? []).map((item) => ({ item, actions: normalizeActions(item.available_actions) })),
    [query.data],
  );
  const selectedItems = rows.filter((r) => selected.has(r.item.task_id)).map((r) => r.item);

  // For the performance test: when the first page is on screen.
  useEffect(() => {
    if (query.isSuccess && !performance.getEntriesByName('awe:inbox-first-page').length) {
      requestAnimationFrame(() => performance.mark('awe:inbox-first-page'));
    }
  }, [query.isSuccess]);

  const applyFilter = (f: InboxFilter) => {
    setFilter(f);
    setCursors([null]);
    setSelected(new Set());
  };
  const next = () => {
    const last: InboxItem | undefined = query.data?.[query.data.length - 1];
    if (last) setCursors([...cursors, { created_at: last.created_at, task_id: last.task_id }]);
    setSelected(new Set());
  };
  const previous = () => {
    setCursors(cursors.slice(0, -1));
    setSelected(new Set());
  };
  const select = (taskId: string, on: boolean) => {
    const s = new Set(selected);
    if (on) s.add(taskId);
    else s.delete(taskId);
    setSelected(s);
  };

  const anyBulk = rows.some((r) => bulkApprovable(r.actions));
  const hasNext = (query.data?.length ?? 0) === INBOX_PAGE_SIZE;

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1}>Inbox</Title>
        {anyBulk && <BulkApprove items={selectedItems} onDone={() => setSelected(new Set())} />}
      </Group>
      <InboxFilters value={filter} onChange={applyFilter} />
      <ErrorAlert error={query.error} />
      {query.isPending && <Loader aria-label="Loading the inbox" />}
      {query.isSuccess && rows.length === 0 && (
        <Alert color="gray" title="Nothing to do">
          {cursors.length > 1 ? 'No more tasks.' : 'No tasks match: your inbox is empty.'}
        </Alert>
      )}
      {rows.length > 0 && (
        <Stack component="ul" gap="xs" p={0} m={0} style={{ listStyle: 'none' }} aria-label="Tasks" data-testid="inbox-list">
          {rows.map(({ item, actions }) => (
            <InboxRow key={item.task_id} item={item} actions={actions} selectable={bulkApprovable(actions)}
              selected={selected.has(item.task_id)} onSelect={(on) => select(item.task_id, on)} />
          ))}
        </Stack>
      )}
      <Group justify="space-between">
        <Text size="sm" c="dimmed" aria-live="polite">
          {rows.length > 0 ? `Page ${cursors.length} · ${rows.length} task(s)` : ''}
        </Text>
        <Group gap="xs">
          <Button variant="default" size="xs" disabled={cursors.length === 1} onClick={previous}>Previous page</Button>
          <Button variant="default" size="xs" disabled={!hasNext} onClick={next}>Next page</Button>
        </Group>
      </Group>
    </Stack>
  );
}
