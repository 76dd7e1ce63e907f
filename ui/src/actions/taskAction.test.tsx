import { MantineProvider } from '@mantine/core';
import { fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { ActionButtons } from './ActionButtons';
import { actionKind, bulkApprovable, humanise, normalizeAction, normalizeActions, orderForDisplay } from './taskAction';

describe('actions as the server sends them', () => {
  it('a word becomes an action with a humanised label and a default severity', () => {
    expect(normalizeAction('approve')).toEqual({ action: 'approve', label: 'Approve', severity: 'primary', requiresComment: false, form: null });
    expect(normalizeAction('reject')).toMatchObject({ severity: 'danger' });
    expect(normalizeAction('request_changes')).toMatchObject({ label: 'Request changes', severity: 'neutral' });
    expect(normalizeAction('claim')).toMatchObject({ label: 'Claim', severity: 'neutral' });
  });

  it('an object keeps its label, severity, required comment and form', () => {
    const a = normalizeAction({
      action: 'approve', label: 'Approve payment', severity: 'primary', requires_comment: true,
      form: { type: 'object', required: ['cost_centre'], properties: { cost_centre: { type: 'string', title: 'Cost centre', maxLength: 20 } } },
    });
    expect(a).toMatchObject({ action: 'approve', label: 'Approve payment', severity: 'primary', requiresComment: true });
    expect(a?.form?.fields).toEqual([expect.objectContaining({ name: 'cost_centre', label: 'Cost centre', type: 'string', required: true })]);
  });

  it('an object with missing or unknown parts falls back to the defaults', () => {
    expect(normalizeAction({ action: 'reject', label: '', severity: 'loud', form: null })).toEqual({
      action: 'reject', label: 'Reject', severity: 'danger', requiresComment: false, form: null,
    });
  });

  it('both shapes in one list; anything else is dropped', () => {
    const list = normalizeActions(['approve', { action: 'reject', label: 'Decline', severity: 'danger', requires_comment: true, form: null }, 42, null, '']);
    expect(list.map((a) => [a.action, a.label, a.requiresComment])).toEqual([['approve', 'Approve', false], ['reject', 'Decline', true]]);
    expect(normalizeActions(null)).toEqual([]);
  });

  it('kinds: decisions go to decide; the rest have their own endpoints', () => {
    expect(['approve', 'reject', 'abstain', 'request_changes'].map(actionKind)).toEqual(['decision', 'decision', 'decision', 'decision']);
    expect(['claim', 'release', 'comment', 'resubmit', 'withdraw', 'escalate'].map(actionKind)).toEqual(['claim', 'release', 'comment', 'resubmit', 'withdraw', 'other']);
  });

  it('bulk approve only where approve asks for nothing more', () => {
    expect(bulkApprovable(normalizeActions(['approve', 'reject']))).toBe(true);
    expect(bulkApprovable(normalizeActions(['reject']))).toBe(false);
    expect(bulkApprovable(normalizeActions([{ action: 'approve', requires_comment: true }]))).toBe(false);
    expect(bulkApprovable(normalizeActions([{ action: 'approve', form: { properties: { x: { type: 'boolean' } } } }]))).toBe(false);
  });

  it('decisions first', () => {
    expect(orderForDisplay(normalizeActions(['claim', 'approve', 'comment', 'reject'])).map((a) => a.action)).toEqual(['approve', 'reject', 'claim', 'comment']);
    expect(humanise('needs-more_info')).toBe('Needs more info');
  });
});

describe('ActionButtons', () => {
  it('renders one button per action, by label and severity, in both shapes', () => {
    const onAction = vi.fn();
    render(
      <MantineProvider>
        <ActionButtons context="EXP-1" onAction={onAction}
          actions={normalizeActions(['approve', { action: 'reject', label: 'Decline', severity: 'danger', requires_comment: true, form: null }, 'claim'])} />
      </MantineProvider>,
    );
    const buttons = screen.getAllByRole('button');
    expect(buttons.map((b) => b.textContent)).toEqual(['Approve', 'Decline', 'Claim']);
    expect(buttons.map((b) => b.getAttribute('data-severity'))).toEqual(['primary', 'danger', 'neutral']);
    expect(screen.getByRole('button', { name: 'Decline EXP-1' })).toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: 'Decline EXP-1' }));
    expect(onAction).toHaveBeenCalledWith(expect.objectContaining({ action: 'reject', requiresComment: true }));
  });
});
