/**
 * Limits on parsed JSON, applied before any validation, in one walk, by everyone who takes JSON
 * from the network (the orchestrator's API and heartbeat path, the agent's action, peer and
 * heartbeat-answer paths). A validator that recurses would otherwise meet a body of thousands of
 * nested arrays with a stack overflow (a 500, and CPU burnt), and PostgreSQL refuses NUL and lone
 * surrogates in text (another 500). Iterative on purpose: the walk itself cannot overflow.
 */
// ES2024 string methods (Node ≥ 20); our TypeScript lib target predates them.
declare global {
  interface String {
    isWellFormed(): boolean;
    toWellFormed(): string;
  }
}

export interface JsonLimits {
  /** Containers (objects, arrays) nested deeper than this are refused; the top level is 1. */
  maxDepth: number;
  maxArrayLength: number;
  /** In UTF-16 code units, for values and keys alike. */
  maxStringLength: number;
}

export const DEFAULT_JSON_LIMITS: Readonly<JsonLimits> = {
  maxDepth: 32,
  maxArrayLength: 10_000,
  maxStringLength: 65_536,
};

export interface JsonLimitViolation {
  /** Dotted path of the offending value (`checks[2].output`), 'body' for the top level. */
  field: string;
  message: string;
}

interface Frame {
  value: unknown;
  key: string | number | null;
  parent: Frame | null;
  depth: number;
}

function pathOf(frame: Frame, root: string): string {
  const parts: string[] = [];
  for (let f: Frame | null = frame; f && f.key !== null; f = f.parent) {
    parts.push(
      typeof f.key === 'number' ? `[${f.key}]` : f.parent?.key === null && !root ? f.key : `.${f.key}`,
    );
  }
  const path = root + parts.reverse().join('');
  return path === '' ? 'body' : path;
}

/** Why this string may not pass (NUL, lone surrogate, too long), or null. */
export function stringProblem(text: string, maxLength: number): string | null {
  if (text.length > maxLength) return `is longer than ${maxLength} characters`;
  if (text.indexOf('\u0000') !== -1) return 'must not contain NUL (\\u0000) characters';
  if (!text.isWellFormed()) return 'must not contain lone UTF-16 surrogates (invalid Unicode)';
  return null;
}

/** The first violation in `value` (depth-first, in document order), or null when it is fine. */
export function checkJsonLimits(
  value: unknown,
  limits: JsonLimits = DEFAULT_JSON_LIMITS,
  root = '',
): JsonLimitViolation | null {
  const stack: Frame[] = [{ value, key: null, parent: null, depth: 0 }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const v = frame.value;
    if (typeof v === 'string') {
      const problem = stringProblem(v, limits.maxStringLength);
      if (problem) {
        const field = pathOf(frame, root);
        return { field, message: `${field} ${problem}` };
      }
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    const depth = frame.depth + 1;
    if (depth > limits.maxDepth) {
      const field = pathOf(frame, root);
      return { field, message: `${field} is nested deeper than ${limits.maxDepth} levels` };
    }
    if (Array.isArray(v)) {
      if (v.length > limits.maxArrayLength) {
        const field = pathOf(frame, root);
        return { field, message: `${field} has more than ${limits.maxArrayLength} elements` };
      }
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], key: i, parent: frame, depth });
      continue;
    }
    const keys = Object.keys(v);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i];
      const problem = stringProblem(key, limits.maxStringLength);
      if (problem) {
        const field = pathOf(frame, root);
        return { field, message: `a key in ${field} ${problem}` };
      }
      stack.push({ value: (v as Record<string, unknown>)[key], key, parent: frame, depth });
    }
  }
  return null;
}

/** Replaces NUL and lone surrogates with U+FFFD: for text we relay but did not author (script output). */
export function wellFormedText(text: string): string {
  const noNul = text.indexOf('\u0000') === -1 ? text : text.replaceAll('\u0000', '\uFFFD');
  return noNul.isWellFormed() ? noNul : noNul.toWellFormed();
}
