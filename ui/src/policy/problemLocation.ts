// Where a validation problem's JSON path (`stages[1].on_breach.rules`, the
// empty path for the document) is in the editor's text, so the editor can
// underline it. Matches awe's own locator (core/src/document_locate.rs): a
// path that is not in the document (a missing required field) falls back
// to its nearest ancestor, and keys containing dots are matched against the
// rest of the path, so `properties.a.b` finds a key `a.b`.
import { isMap, isNode, isPair, isScalar, isSeq, type Document, type Node } from 'yaml';

export interface TextRange {
  from: number;
  to: number;
  /** False when the range is an ancestor's: the path itself is not in the text. */
  exact: boolean;
}

type Range3 = [number, number, number] | null | undefined;

function rangeOf(node: unknown): { from: number; to: number } | null {
  const range = (node as { range?: Range3 } | null)?.range;
  if (!range) return null;
  return { from: range[0], to: range[1] };
}

/** Walks `rest` down from `node`; returns the range of the deepest node reached and whether it is the target. */
function walk(node: unknown, rest: string, keyRange: { from: number; to: number } | null): { range: { from: number; to: number } | null; exact: boolean } {
  const here = keyRange ?? rangeOf(node);
  if (rest === '') return { range: here, exact: true };
  if (isSeq(node)) {
    const m = /^\[(\d+)\](.*)$/.exec(rest);
    if (m) {
      const item = node.items[Number(m[1])];
      if (item !== undefined) {
        const found = walk(item, m[2].replace(/^\./, ''), null);
        if (found.range) return found;
      }
    }
    return { range: here, exact: false };
  }
  if (isMap(node)) {
    // Longest key first, so a key `a.b` wins over a key `a`.
    const candidates = node.items
      .filter(isPair)
      .map((pair) => ({ pair, key: isScalar(pair.key) ? String(pair.key.value) : String(pair.key) }))
      .filter(({ key }) => rest === key || rest.startsWith(key + '.') || rest.startsWith(key + '['))
      .sort((a, b) => b.key.length - a.key.length);
    for (const { pair, key } of candidates) {
      const after = rest.slice(key.length).replace(/^\./, '');
      const keyNode = isNode(pair.key) ? pair.key : null;
      const pairRange = spanOfPair(keyNode, pair.value as Node | null);
      if (after === '') return { range: pairRange, exact: true };
      const found = walk(pair.value, after, null);
      if (found.range && found.exact) return found;
      if (found.range) return { range: found.range, exact: false };
      return { range: pairRange, exact: false };
    }
    return { range: here, exact: false };
  }
  return { range: here, exact: false };
}

// A key's problem underlines the key (unknown_field, duplicate) through the
// end of its value, so both a misspelt key and a wrong value are marked.
function spanOfPair(key: Node | null, value: Node | null): { from: number; to: number } | null {
  const k = rangeOf(key);
  const v = rangeOf(value);
  if (k && v) return { from: k.from, to: Math.max(k.to, v.to) };
  return k ?? v;
}

export function locateProblem(doc: Document, path: string): TextRange | null {
  const found = walk(doc.contents, path, null);
  if (!found.range) return null;
  let { from, to } = found.range;
  if (to <= from) to = from + 1;
  return { from, to, exact: found.exact };
}
