// The decision form an action may carry: a small JSON Schema subset (an
// object of named fields). Fields the console cannot render are ignored
// rather than guessed at.

export type FieldType = 'string' | 'text' | 'number' | 'integer' | 'boolean' | 'enum';

export interface FormField {
  name: string;
  type: FieldType;
  label: string;
  description: string | null;
  required: boolean;
  options: string[];
  minimum: number | null;
  maximum: number | null;
  maxLength: number | null;
  defaultValue: unknown;
}

export interface FormSchema {
  title: string | null;
  fields: FormField[];
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function fieldFrom(name: string, raw: unknown, required: boolean): FormField | null {
  if (!raw || typeof raw !== 'object') return null;
  const s = raw as Record<string, unknown>;
  const base = {
    name,
    label: typeof s.title === 'string' && s.title ? s.title : name.replace(/[_-]+/g, ' ').replace(/^./, (c) => c.toUpperCase()),
    description: typeof s.description === 'string' ? s.description : null,
    required,
    options: [] as string[],
    minimum: num(s.minimum),
    maximum: num(s.maximum),
    maxLength: num(s.maxLength),
    defaultValue: s.default,
  };
  if (Array.isArray(s.enum) && s.enum.length > 0) return { ...base, type: 'enum', options: s.enum.map(String) };
  switch (s.type) {
    case 'string':
      return { ...base, type: base.maxLength !== null && base.maxLength <= 200 ? 'string' : 'text' };
    case 'number':
    case 'integer':
    case 'boolean':
      return { ...base, type: s.type };
    default:
      return null;
  }
}

/** A form from the action's `form` value; null when there is none or it has no field the console can show. */
export function formSchemaFrom(raw: unknown): FormSchema | null {
  if (!raw || typeof raw !== 'object') return null;
  const s = raw as Record<string, unknown>;
  const properties = s.properties && typeof s.properties === 'object' ? (s.properties as Record<string, unknown>) : {};
  const required = new Set(Array.isArray(s.required) ? s.required.map(String) : []);
  const fields = Object.entries(properties)
    .map(([name, field]) => fieldFrom(name, field, required.has(name)))
    .filter((f): f is FormField => f !== null);
  if (fields.length === 0) return null;
  return { title: typeof s.title === 'string' ? s.title : null, fields };
}

export type FormValues = Record<string, unknown>;

export function initialValues(form: FormSchema): FormValues {
  const values: FormValues = {};
  for (const f of form.fields) {
    if (f.defaultValue !== undefined) values[f.name] = f.defaultValue;
    else if (f.type === 'boolean') values[f.name] = false;
  }
  return values;
}

/** Problems by field name (empty: the data can be sent). */
export function validateForm(form: FormSchema, values: FormValues): Record<string, string> {
  const problems: Record<string, string> = {};
  for (const f of form.fields) {
    const v = values[f.name];
    const empty = v === undefined || v === null || v === '';
    if (empty) {
      if (f.required) problems[f.name] = 'required';
      continue;
    }
    if (f.type === 'number' || f.type === 'integer') {
      if (typeof v !== 'number' || Number.isNaN(v)) problems[f.name] = 'must be a number';
      else if (f.type === 'integer' && !Number.isInteger(v)) problems[f.name] = 'must be a whole number';
      else if (f.minimum !== null && v < f.minimum) problems[f.name] = `must be at least ${f.minimum}`;
      else if (f.maximum !== null && v > f.maximum) problems[f.name] = `must be at most ${f.maximum}`;
    } else if ((f.type === 'string' || f.type === 'text') && f.maxLength !== null && String(v).length > f.maxLength) {
      problems[f.name] = `at most ${f.maxLength} characters`;
    } else if (f.type === 'enum' && !f.options.includes(String(v))) {
      problems[f.name] = 'choose one of the options';
    }
  }
  return problems;
}

/** The data to send: fields that have a value, nothing else. */
export function formData(form: FormSchema, values: FormValues): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const f of form.fields) {
    const v = values[f.name];
    if (v !== undefined && v !== null && v !== '') data[f.name] = v;
  }
  return data;
}
