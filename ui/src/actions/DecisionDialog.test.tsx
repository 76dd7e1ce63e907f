import { MantineProvider } from '@mantine/core';
import { fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { DecisionDialog } from './DecisionDialog';
import { normalizeAction } from './taskAction';

function open(raw: Parameters<typeof normalizeAction>[0], onConfirm = vi.fn()) {
  render(
    <MantineProvider>
      <DecisionDialog action={normalizeAction(raw)} subject="payment PAY-7" onConfirm={onConfirm} onClose={vi.fn()} busy={false} error={null} />
    </MantineProvider>,
  );
  return onConfirm;
}

describe('DecisionDialog', () => {
  it('a word: an optional comment, then the decision', () => {
    const onConfirm = open('approve');
    expect(screen.getByText('Approve: payment PAY-7')).toBeInTheDocument();
    fireEvent.click(screen.getByTestId('confirm-action'));
    expect(onConfirm).toHaveBeenCalledWith({ comment: '', data: undefined });
  });

  it('an object: the required comment and the form are checked, then sent', () => {
    const onConfirm = open({
      action: 'approve', label: 'Release payment', severity: 'primary', requires_comment: true,
      form: { type: 'object', required: ['cost_centre'], properties: { cost_centre: { type: 'string', title: 'Cost centre', maxLength: 20 } } },
    });
    fireEvent.click(screen.getByTestId('confirm-action'));
    expect(onConfirm).not.toHaveBeenCalled();
    expect(screen.getByText('required')).toBeInTheDocument();
    expect(screen.getByText('a comment is required for Release payment')).toBeInTheDocument();
    fireEvent.change(screen.getByLabelText(/Cost centre/), { target: { value: 'CC-42' } });
    fireEvent.change(screen.getByLabelText(/Comment/), { target: { value: ' budget checked ' } });
    fireEvent.click(screen.getByTestId('confirm-action'));
    expect(onConfirm).toHaveBeenCalledWith({ comment: 'budget checked', data: { cost_centre: 'CC-42' } });
  });
});
