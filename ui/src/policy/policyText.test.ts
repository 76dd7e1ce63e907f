import { describe, expect, it } from 'vitest';
import { locateSyntaxProblems, locateValidationProblems } from './locatedProblems';
import { convertText, lineColumn, parsePolicyText, toJsonText, toYamlText } from './policyText';
import { locateProblem } from './problemLocation';

const POLICY = `key: expense.report
artifact_type: expense_report
expires_after: 30 days
context_schema:
  properties:
    "a.b": {type: number}
stages:
  - name: Manager
    rules:
      - {type: expression, logic: {var: manager}}
    skipIf: {"<=": [{var: amount}, 1000]}
    on_breach: {action: escalate}
  - name: Dual control
    mode: any
    n: 0
    rules:
      - {type: group, group: finance/approvers}
`;

const textAt = (text: string, r: { from: number; to: number } | null) => (r ? text.slice(r.from, r.to) : null);

describe('YAML and JSON', () => {
  it('reads YAML into the JSON definition, the way awe reads documents', () => {
    const parsed = parsePolicyText('key: k\nveto: no\nn: 2\nflag: true\n');
    expect(parsed.syntaxProblems).toEqual([]);
    // YAML 1.2: `no` is a string (awe reports it as a type problem), not false.
    expect(parsed.value).toEqual({ key: 'k', veto: 'no', n: 2, flag: true });
  });

  it('refuses a repeated key, with its place', () => {
    const text = 'key: a\nartifact_type: b\nkey: c\n';
    const parsed = parsePolicyText(text);
    expect(parsed.value).toBeUndefined();
    expect(parsed.syntaxProblems[0].message).toMatch(/unique/i);
    const [located] = locateSyntaxProblems(text, parsed.syntaxProblems);
    expect(located.line).toBe(3);
    expect(located.code).toBe('syntax');
  });

  it('reports a syntax error at its line', () => {
    const text = 'key: a\nstages: [\n';
    const [p] = locateSyntaxProblems(text, parsePolicyText(text).syntaxProblems);
    expect(p.line).toBeGreaterThanOrEqual(2);
  });

  it('JSON is read by the same reader; converting round-trips', () => {
    const definition = parsePolicyText(POLICY).value;
    const json = convertText(POLICY, 'json')!;
    expect(JSON.parse(json)).toEqual(definition);
    expect(parsePolicyText(json).value).toEqual(definition);
    expect(parsePolicyText(toYamlText(definition)).value).toEqual(definition);
    expect(toJsonText({ a: 1 })).toBe('{\n  "a": 1\n}\n');
    expect(convertText('key: [', 'json')).toBeNull();
  });

  it('lineColumn counts from 1', () => {
    expect(lineColumn('ab\ncd', 0)).toEqual({ line: 1, column: 1 });
    expect(lineColumn('ab\ncd', 4)).toEqual({ line: 2, column: 2 });
  });
});

describe('problem paths to places in the text', () => {
  const doc = parsePolicyText(POLICY).doc!;

  it('a key path marks the key and its value', () => {
    expect(textAt(POLICY, locateProblem(doc, 'expires_after'))).toBe('expires_after: 30 days');
    expect(textAt(POLICY, locateProblem(doc, 'stages[0].skipIf'))).toBe('skipIf: {"<=": [{var: amount}, 1000]}');
    expect(textAt(POLICY, locateProblem(doc, 'stages[1].n'))).toBe('n: 0');
  });

  it('indexes and flow mappings', () => {
    expect(textAt(POLICY, locateProblem(doc, 'stages[1].rules[0].group'))).toBe('group: finance/approvers');
    expect(textAt(POLICY, locateProblem(doc, 'stages[0].rules[0]'))).toBe('{type: expression, logic: {var: manager}}');
  });

  it('a missing field falls back to its nearest ancestor', () => {
    const r = locateProblem(doc, 'stages[0].on_breach.rules');
    expect(r?.exact).toBe(false);
    expect(textAt(POLICY, r)).toBe('{action: escalate}');
    expect(locateProblem(doc, 'stages[7].name')?.exact).toBe(false);
  });

  it('keys with dots are matched against the rest of the path', () => {
    expect(textAt(POLICY, locateProblem(doc, 'context_schema.properties.a.b.type'))).toBe('type: number');
  });

  it('the empty path is the document', () => {
    expect(locateProblem(doc, '')).toMatchObject({ from: 0, exact: true });
  });

  it('validation problems get lines', () => {
    const located = locateValidationProblems(POLICY, doc, [
      { path: 'expires_after', code: 'duration', message: 'not a duration' },
      { path: 'stages[1].rules[0].group', code: 'value', message: 'must start with /' },
    ]);
    expect(located.map((p) => [p.line, p.exact])).toEqual([[3, true], [17, true]]);
  });
});
