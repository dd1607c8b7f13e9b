import { createHash } from 'node:crypto';

/** `SHA-256=<base64url, padded>` of `data`: the digest form of the JetStream object store (ADR 0012). */
export function blobDigest(data: Uint8Array): string {
  return `SHA-256=${createHash('sha256').update(data).digest('base64').replace(/\+/g, '-').replace(/\//g, '_')}`;
}
