// Policy documents as text in the editor: YAML (or JSON, which YAML 1.2
// reads too) to the JSON definition awe validates, and back. Read the way
// awe reads documents (docs/policies.md, "Documents"): YAML 1.2 core
// schema, so `yes`/`no` stay strings; a repeated key is an error.
import { isDocument, parseDocument, stringify, type Document } from 'yaml';

export type PolicyFormat = 'yaml' | 'json';

/** A problem in the text itself (syntax), with its place as offsets into the text. */
export interface SyntaxProblem {
  message: string;
  from: number;
  to: number;
}

export interface ParsedPolicyText {
  /** The definition, or undefined when the text cannot be read. */
  value: unknown;
  doc: Document | null;
  syntaxProblems: SyntaxProblem[];
}

export function parsePolicyText(text: string): ParsedPolicyText {
  const doc = parseDocument(text, { version: '1.2', schema: 'core', uniqueKeys: true, prettyErrors: false, merge: false });
  const syntaxProblems: SyntaxProblem[] = doc.errors.map((e) => ({
    message: firstLine(e.message),
    from: e.pos[0],
    to: Math.max(e.pos[1], e.pos[0] + 1),
  }));
  if (syntaxProblems.length > 0 || !isDocument(doc)) return { value: undefined, doc: null, syntaxProblems };
  return { value: doc.toJS({ maxAliasCount: 100 }), doc, syntaxProblems };
}

function firstLine(message: string): string {
  return message.split('\n')[0].trim();
}

/** A definition as the editor's YAML: keys in awe's order, flow style for short rules. */
export function toYamlText(definition: unknown): string {
  return stringify(definition, { version: '1.2', lineWidth: 0, indent: 2, aliasDuplicateObjects: false });
}

export function toJsonText(definition: unknown): string {
  return JSON.stringify(definition, null, 2) + '\n';
}

/** Converts the editor's text between formats; null when the text cannot be read. */
export function convertText(text: string, to: PolicyFormat): string | null {
  const parsed = parsePolicyText(text);
  if (parsed.value === undefined) return null;
  return to === 'yaml' ? toYamlText(parsed.value) : toJsonText(parsed.value);
}

/** 1-based line and column of an offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, column: lines[lines.length - 1].length + 1 };
}
