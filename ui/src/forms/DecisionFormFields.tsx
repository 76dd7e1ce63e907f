// Renders an action's decision form (forms/formSchema.ts) as inputs.
import { Checkbox, NumberInput, Select, Stack, Textarea, TextInput } from '@mantine/core';
import type { FormSchema, FormValues } from './formSchema';

export function DecisionFormFields({ form, values, problems, onChange }: {
  form: FormSchema;
  values: FormValues;
  problems: Record<string, string>;
  onChange: (values: FormValues) => void;
}) {
  const set = (name: string, value: unknown) => onChange({ ...values, [name]: value });
  return (
    <Stack gap="xs" data-testid="decision-form">
      {form.fields.map((f) => {
        const common = { label: f.label, description: f.description ?? undefined, required: f.required, error: problems[f.name] };
        switch (f.type) {
          case 'boolean':
            return (
              <Checkbox key={f.name} label={f.label} description={f.description ?? undefined} error={problems[f.name]}
                checked={values[f.name] === true} onChange={(e) => set(f.name, e.currentTarget.checked)} />
            );
          case 'number':
          case 'integer':
            return (
              <NumberInput key={f.name} {...common} allowDecimal={f.type === 'number'}
                min={f.minimum ?? undefined} max={f.maximum ?? undefined}
                value={typeof values[f.name] === 'number' ? (values[f.name] as number) : ''}
                onChange={(v) => set(f.name, typeof v === 'number' ? v : v === '' ? undefined : Number(v))} />
            );
          case 'enum':
            return (
              <Select key={f.name} {...common} data={f.options} value={(values[f.name] as string) ?? null}
                onChange={(v) => set(f.name, v ?? undefined)} />
            );
          case 'text':
            return (
              <Textarea key={f.name} {...common} autosize minRows={2} value={(values[f.name] as string) ?? ''}
                onChange={(e) => set(f.name, e.currentTarget.value)} />
            );
          default:
            return (
              <TextInput key={f.name} {...common} maxLength={f.maxLength ?? undefined} value={(values[f.name] as string) ?? ''}
                onChange={(e) => set(f.name, e.currentTarget.value)} />
            );
        }
      })}
    </Stack>
  );
}
