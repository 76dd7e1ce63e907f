// Errors the console shows are the API's own: an AWE-… code from
// docs/errors.md with awe's message. PostgREST renders a PostgreSQL error
// as {code, message, details, hint}; awe's message starts with its code and
// `details` is the JSON text {"code": …, "details": …}.

export interface PolicyProblem {
  path: string;
  code: string;
  message: string;
}

export class ApiError extends Error {
  /** An AWE-… code, or null when the API could not be reached at all. */
  readonly code: string | null;
  /** The HTTP status (0: no answer). */
  readonly status: number;
  /** awe's `details` (for example `{problems: [...]}`), already parsed. */
  readonly details: unknown;
  /** The REST server's own code (PGRST205, PT422, …), for telling its errors from awe's. */
  readonly restCode: string | null;

  constructor(code: string | null, message: string, status: number, details: unknown = null, restCode: string | null = null) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.details = details;
    this.restCode = restCode;
  }

  /** Problems of AWE-POLICY-INVALID / AWE-CONTEXT-INVALID, when present. */
  get problems(): PolicyProblem[] {
    const d = this.details as { problems?: unknown } | null;
    if (!d || !Array.isArray(d.problems)) return [];
    return d.problems.map((p) => ({
      path: String((p as PolicyProblem).path ?? ''),
      code: String((p as PolicyProblem).code ?? ''),
      message: String((p as PolicyProblem).message ?? ''),
    }));
  }
}

const AWE_CODE = /^(AWE-[A-Z]+(?:-[A-Z]+)*)\b:?\s*/;

// When the answer carries no AWE code (the REST server refused the token,
// or an endpoint this server does not have), the HTTP status names the
// catalogue entry that means the same thing.
function codeForStatus(status: number): string {
  if (status === 401) return 'AWE-UNAUTHENTICATED';
  if (status === 403) return 'AWE-FORBIDDEN';
  if (status === 404) return 'AWE-NOT-FOUND';
  if (status === 503) return 'AWE-BUSY';
  if (status >= 400 && status < 500) return 'AWE-BAD-INPUT';
  return 'AWE-INTERNAL';
}

function messageForStatus(status: number): string {
  if (status === 401) return 'the session has ended or the token was refused; sign in again';
  if (status === 403) return 'you may not do this';
  if (status === 404) return 'this server does not offer that part of the API';
  if (status === 503) return 'the server is busy; try again';
  return `the server answered ${status}`;
}

function parseJson(text: unknown): unknown {
  if (typeof text !== 'string') return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Turns an HTTP error answer into an ApiError. */
export function apiErrorFromResponse(status: number, bodyText: string): ApiError {
  const body = parseJson(bodyText) as { code?: unknown; message?: unknown; details?: unknown } | string | null;
  const message = body && typeof body === 'object' && typeof body.message === 'string' ? body.message : '';
  const inner = body && typeof body === 'object' ? (parseJson(body.details) as { code?: unknown; details?: unknown } | null) : null;
  const fromMessage = AWE_CODE.exec(message);
  const fromDetails = inner && typeof inner === 'object' && typeof inner.code === 'string' && inner.code.startsWith('AWE-') ? inner.code : null;
  const code = fromMessage?.[1] ?? fromDetails;
  const restCode = body && typeof body === 'object' && typeof body.code === 'string' ? body.code : null;
  if (code) {
    const text = fromMessage ? message.slice(fromMessage[0].length) : message;
    const details = inner && typeof inner === 'object' && 'details' in inner ? inner.details : null;
    return new ApiError(code, text || messageForStatus(status), status, details, restCode);
  }
  // Not one of awe's errors: name it by its status. The server's own text
  // is kept when it is a short sentence (never a stack trace or HTML page).
  const plain = message && message.length <= 200 && !message.includes('\n') ? message : messageForStatus(status);
  return new ApiError(codeForStatus(status), plain, status, null, restCode);
}

/** The error for a request that got no answer (network down, server stopped). */
export function unreachableError(): ApiError {
  return new ApiError(null, 'The API could not be reached. Check the connection and try again.', 0, null);
}

/** Any thrown value as an ApiError, so the UI has one shape to show. */
export function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return new ApiError('AWE-INTERNAL', 'something went wrong in the console', 0, null);
}
