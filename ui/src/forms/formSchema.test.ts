import { describe, expect, it } from 'vitest';
import { formData, formSchemaFrom, initialValues, validateForm } from './formSchema';

const schema = {
  title: 'Payment details',
  type: 'object',
  required: ['cost_centre', 'amount'],
  properties: {
    cost_centre: { type: 'string', title: 'Cost centre', maxLength: 20 },
    amount: { type: 'integer', minimum: 1, maximum: 1000 },
    urgent: { type: 'boolean', default: true },
    channel: { enum: ['sepa', 'swift'] },
    note: { type: 'string' },
    nested: { type: 'object' },
  },
};

describe('decision forms', () => {
  const form = formSchemaFrom(schema)!;

  it('keeps the fields it can render', () => {
    expect(form.title).toBe('Payment details');
    expect(form.fields.map((f) => [f.name, f.type, f.required])).toEqual([
      ['cost_centre', 'string', true], ['amount', 'integer', true], ['urgent', 'boolean', false], ['channel', 'enum', false], ['note', 'text', false],
    ]);
    expect(formSchemaFrom(null)).toBeNull();
    expect(formSchemaFrom({ properties: { x: { type: 'object' } } })).toBeNull();
  });

  it('validates required fields, bounds and options', () => {
    const values = initialValues(form);
    expect(values).toEqual({ urgent: true });
    expect(validateForm(form, values)).toEqual({ cost_centre: 'required', amount: 'required' });
    expect(validateForm(form, { cost_centre: 'CC-1', amount: 1.5 })).toEqual({ amount: 'must be a whole number' });
    expect(validateForm(form, { cost_centre: 'x'.repeat(21), amount: 5000, channel: 'fax' })).toEqual({
      cost_centre: 'at most 20 characters', amount: 'must be at most 1000', channel: 'choose one of the options',
    });
  });

  it('sends only fields with a value', () => {
    expect(formData(form, { cost_centre: 'CC-1', amount: 10, urgent: false, note: '' })).toEqual({ cost_centre: 'CC-1', amount: 10, urgent: false });
  });
});
