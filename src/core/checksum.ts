// The checksum identifies what a migration does, not how its file is formatted: it hashes the
// compiled plan with keys in a fixed order, so editing a comment is fine but changing a step of an
// applied migration is detected and refused.
import { createHash } from 'node:crypto';

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function planChecksum(content: unknown): string {
  return sha256(JSON.stringify(canonical(content)));
}
