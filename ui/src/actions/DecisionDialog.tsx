// Confirms a decision (or a withdrawal): a comment, required when the
// action says so, and the action's form when it has one.
import { Button, Group, Modal, Stack, Text, Textarea } from '@mantine/core';
import { useEffect, useState } from 'react';
import { ErrorAlert } from '../components/ErrorAlert';
import { DecisionFormFields } from '../forms/DecisionFormFields';
import { formData, initialValues, validateForm, type FormValues } from '../forms/formSchema';
import { SEVERITY_LOOK } from './ActionButtons';
import type { TaskAction } from './taskAction';

export interface DecisionInput {
  comment: string;
  data?: Record<string, unknown>;
}

export function DecisionDialog({ action, subject, onConfirm, onClose, busy, error }: {
  action: TaskAction | null;
  subject: string;
  onConfirm: (input: DecisionInput) => void;
  onClose: () => void;
  busy: boolean;
  error: unknown;
}) {
  const [comment, setComment] = useState('');
  const [values, setValues] = useState<FormValues>({});
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [commentMissing, setCommentMissing] = useState(false);

  useEffect(() => {
    setComment('');
    setProblems({});
    setCommentMissing(false);
    setValues(action?.form ? initialValues(action.form) : {});
  }, [action]);

  if (!action) return null;
  const look = SEVERITY_LOOK[action.severity];
  const commentLabel = action.action === 'withdraw' ? 'Reason' : 'Comment';

  const submit = () => {
    const formProblems = action.form ? validateForm(action.form, values) : {};
    // A comment action is nothing but its comment.
    const missing = (action.requiresComment || action.action === 'comment') && !comment.trim();
    setProblems(formProblems);
    setCommentMissing(missing);
    if (missing || Object.keys(formProblems).length > 0) return;
    onConfirm({ comment: comment.trim(), data: action.form ? formData(action.form, values) : undefined });
  };

  return (
    <Modal opened onClose={onClose} title={`${action.label}: ${subject}`} centered>
      {/* noValidate: our own messages, tied to their fields, instead of the browser bubble. */}
      <form noValidate onSubmit={(e) => { e.preventDefault(); submit(); }}>
        <Stack gap="sm">
          {action.form?.title && <Text fw={600}>{action.form.title}</Text>}
          {action.form && <DecisionFormFields form={action.form} values={values} problems={problems} onChange={setValues} />}
          <Textarea label={commentLabel} required={action.requiresComment || action.action === 'comment'} autosize minRows={2} data-autofocus
            error={commentMissing ? `a ${commentLabel.toLowerCase()} is required for ${action.label}` : undefined}
            value={comment} onChange={(e) => setComment(e.currentTarget.value)} />
          <ErrorAlert error={error} />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>Cancel</Button>
            <Button type="submit" color={action.severity === 'neutral' ? 'dark' : look.color} variant="filled" loading={busy}
              data-testid="confirm-action">
              {action.label}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
