// Validation as you type: the text is read locally (syntax problems at
// once), then, a moment after typing stops, awe's validate_policy checks
// the definition and every problem comes back at its JSON path.
import { useQuery } from '@tanstack/react-query';
import { useEffect, useMemo, useState } from 'react';
import { useAwe } from '../auth/session';
import { locateSyntaxProblems, locateValidationProblems, type LocatedProblem } from './locatedProblems';
import { parsePolicyText } from './policyText';

export const VALIDATE_DELAY_MS = 400;

export function useDebounced<T>(value: T, delayMs: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setSettled(value), delayMs);
    return () => clearTimeout(t);
  }, [value, delayMs]);
  return settled;
}

export function usePolicyValidation(text: string, enabled: boolean) {
  const awe = useAwe();
  const settledText = useDebounced(text, VALIDATE_DELAY_MS);
  const parsed = useMemo(() => parsePolicyText(settledText), [settledText]);
  const validation = useQuery({
    queryKey: ['validate_policy', settledText],
    enabled: enabled && parsed.value !== undefined,
    queryFn: () => awe.validatePolicy(parsed.value),
    staleTime: Infinity,
    retry: false,
  });
  const problems: LocatedProblem[] = useMemo(() => {
    if (parsed.syntaxProblems.length > 0) return locateSyntaxProblems(settledText, parsed.syntaxProblems);
    if (!validation.data) return [];
    return locateValidationProblems(settledText, parsed.doc, validation.data.problems ?? []);
  }, [parsed, settledText, validation.data]);
  return {
    parsed,
    problems,
    /** The problems describe the current text (typing has stopped and the server answered). */
    current: settledText === text && (parsed.syntaxProblems.length > 0 || !validation.isFetching),
    valid: parsed.syntaxProblems.length === 0 && validation.data?.valid === true,
    error: validation.error,
    checkedText: settledText,
  };
}
