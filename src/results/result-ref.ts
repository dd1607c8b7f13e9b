/**
 * Results too large to store inline (ADR 0012): the value goes to the app's blob bucket
 * (`<app>-blobs`, a JetStream object store) and the result record carries a {@link ResultRef}
 * instead. A workflow passes such a value on as a {@link BlobMarker} argument, which the worker
 * that runs the next task replaces with the value before the task sees it.
 * @module
 */
import { ResultTooLargeError } from '../errors.ts';
import { decodeSniffed } from '../protocol/codec.ts';
import type { BlobStore } from '../transport/transport.ts';

/** Where a large result is stored (docs/protocol.md, "Large results"). */
export interface ResultRef {
  /** Blob bucket (object store name). */
  bucket: string;
  /** Object name: `<taskId>/<sequence>.<delivery>` of the attempt that stored it. */
  name: string;
  /** Size of the stored bytes. */
  size: number;
  /** `SHA-256=<base64url>` of the stored bytes. */
  digest: string;
  /** Encoding of the stored bytes (the codec's content type). */
  contentType: string;
}

/** Key of a {@link BlobMarker}. */
export const BLOB_MARKER_KEY = '$celeriacBlob';

/** An argument that stands for a stored large value: `{ "$celeriacBlob": ResultRef }`. */
export interface BlobMarker {
  [BLOB_MARKER_KEY]: ResultRef;
}

/** True for a {@link BlobMarker}. */
export function isBlobMarker(v: unknown): v is BlobMarker {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const r = (v as Record<string, unknown>)[BLOB_MARKER_KEY];
  return typeof r === 'object' && r !== null && typeof (r as ResultRef).name === 'string' && typeof (r as ResultRef).bucket === 'string';
}

/** The marker for `ref`, passed on by a workflow in place of the value. */
export function blobMarker(ref: ResultRef): BlobMarker {
  return { [BLOB_MARKER_KEY]: ref };
}

/**
 * True when a task's arguments hold a {@link BlobMarker} where a workflow puts one: an argument, an
 * item of an array argument, or the `value` of such an item. Synchronous and cheap (no decode).
 */
export function hasBlobMarkers(args: readonly unknown[]): boolean {
  for (const a of args) {
    if (typeof a !== 'object' || a === null) continue;
    if (isBlobMarker(a)) return true;
    if (!Array.isArray(a)) continue;
    for (const x of a) {
      if (typeof x !== 'object' || x === null) continue;
      if (isBlobMarker(x) || ('value' in x && isBlobMarker((x as { value: unknown }).value))) return true;
    }
  }
  return false;
}

/** Read and decode a stored large value. @throws Error naming the blob when it is gone (expired, forgotten). */
export async function readBlobValue(blobs: BlobStore, ref: ResultRef): Promise<unknown> {
  const bytes = await blobs.get(ref.name);
  if (!bytes) throw new Error(`large result ${ref.bucket}/${ref.name} (${ref.size} bytes) is gone: expired (resultExpires) or forgotten`);
  return decodeSniffed(bytes);
}

/**
 * Replace the {@link BlobMarker}s in a task's arguments with their values: the arguments themselves,
 * the items of an argument that is an array (a chord body's results), and the `value` of such items
 * (`allowPartial` results).
 */
export async function resolveArgMarkers(args: unknown[], blobs: () => Promise<BlobStore>): Promise<unknown[]> {
  if (!hasBlobMarkers(args)) return args;
  let store: BlobStore | undefined;
  const value = async (m: BlobMarker) => readBlobValue((store ??= await blobs()), m[BLOB_MARKER_KEY]);
  const resolve = async (v: unknown, depth: number): Promise<unknown> => {
    if (isBlobMarker(v)) return value(v);
    if (Array.isArray(v)) return depth > 0 ? Promise.all(v.map((x) => resolve(x, depth - 1))) : v;
    if (depth === 0 && typeof v === 'object' && v !== null && 'value' in v && isBlobMarker((v as { value: unknown }).value)) {
      return { ...v, value: await value((v as { value: BlobMarker }).value) };
    }
    return v;
  };
  return Promise.all(args.map((a) => resolve(a, 1)));
}

/** Room kept in a result record for its fields other than the value (error, meta, children...). */
export const RECORD_ROOM_BYTES = 16 * 1024;

/** Options of the large-result handling of a result backend. */
export interface LargeResultOptions {
  /** The blob bucket (opened on first use). */
  blobs: () => Promise<BlobStore>;
  /** Encoded results above this size are stored in the blob bucket. */
  inlineBytes: number;
  /** Encoded results above this size fail the task with {@link ResultTooLargeError}. */
  maxResultBytes: number;
}

/**
 * Encoded `value`, when it is too large to store inline; undefined when it fits.
 * @throws ResultTooLargeError over `maxResultBytes`.
 */
export function oversized(task: string, value: unknown, encode: (v: unknown) => Uint8Array, o: LargeResultOptions): Uint8Array | undefined {
  if (value === null || value === undefined || typeof value === 'number' || typeof value === 'boolean') return undefined;
  if (typeof value === 'string' && value.length * 3 < o.inlineBytes) return undefined;
  const bytes = encode(value);
  if (bytes.length <= o.inlineBytes) return undefined;
  if (bytes.length > o.maxResultBytes) throw new ResultTooLargeError(task, bytes.length, o.maxResultBytes);
  return bytes;
}
