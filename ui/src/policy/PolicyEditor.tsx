// The policy document editor (CodeMirror 6): YAML or JSON highlighting,
// each problem underlined at its place with its message on hover, and a
// gutter mark on its line.
import { json } from '@codemirror/lang-json';
import { yaml } from '@codemirror/lang-yaml';
import { lintGutter, setDiagnostics, type Diagnostic } from '@codemirror/lint';
import { EditorView } from '@codemirror/view';
import CodeMirror from '@uiw/react-codemirror';
import { useEffect, useMemo, useRef } from 'react';
import type { LocatedProblem } from './locatedProblems';
import type { PolicyFormat } from './policyText';

// Constant, so the editor is not reconfigured on every render (a
// reconfiguration drops diagnostics set from outside).
const BASIC_SETUP = { foldGutter: false };

export interface EditorHandle {
  /** Puts the cursor at an offset and focuses the editor. */
  reveal: (from: number) => void;
}

export function PolicyEditor({ value, onChange, format, problems, problemsForText, readOnly = false, onReady, label }: {
  value: string;
  onChange: (text: string) => void;
  format: PolicyFormat;
  problems: LocatedProblem[];
  /** The text the problems were found in: marks are shown only while it is the editor's. */
  problemsForText: string;
  readOnly?: boolean;
  onReady?: (handle: EditorHandle) => void;
  label: string;
}) {
  const view = useRef<EditorView | null>(null);
  const extensions = useMemo(
    () => [
      format === 'json' ? json() : yaml(),
      lintGutter(),
      EditorView.lineWrapping,
      EditorView.contentAttributes.of({ 'aria-label': label }),
    ],
    [format, label],
  );

  // Runs after every render: the diagnostics follow the problems, and are
  // put back if anything reconfigured the editor meanwhile.
  useEffect(() => {
    const v = view.current;
    if (!v) return;
    const length = v.state.doc.length;
    const diagnostics: Diagnostic[] =
      problemsForText === v.state.doc.toString()
        ? problems.map((p) => ({
            from: Math.min(p.from, length),
            to: Math.min(Math.max(p.to, p.from + 1), length),
            severity: 'error',
            message: `${p.path ? p.path + ': ' : ''}${p.message} (${p.code})`,
          }))
        : [];
    v.dispatch(setDiagnostics(v.state, diagnostics));
  });

  return (
    <CodeMirror
      value={value}
      onChange={onChange}
      extensions={extensions}
      readOnly={readOnly}
      minHeight="320px"
      maxHeight="70vh"
      basicSetup={BASIC_SETUP}
      onCreateEditor={(v) => {
        view.current = v;
        onReady?.({
          reveal: (from) => {
            v.dispatch({ selection: { anchor: Math.min(from, v.state.doc.length) }, scrollIntoView: true });
            v.focus();
          },
        });
      }}
      data-testid="policy-editor"
    />
  );
}
