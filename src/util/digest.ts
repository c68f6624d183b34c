/**
 * xxh64 digests of bytes and files, as 16 lower-case hex digits. The engine keys its manifest
 * with them and the study writers label their outputs with them, so both must hash alike.
 */
import { createReadStream } from 'node:fs';
import xxhash from 'xxhash-wasm';

export type Hasher = Awaited<ReturnType<typeof xxhash>>;
let hasherPromise: Promise<Hasher> | null = null;

/** The xxhash-wasm instance (instantiated once: compiling the module is the costly part). */
export function hasher(): Promise<Hasher> {
  hasherPromise ??= xxhash();
  return hasherPromise;
}

/** A 64-bit digest as 16 hex digits (zero-padded, so every digest has the same length). */
export function hex64(n: bigint): string {
  return n.toString(16).padStart(16, '0');
}

/** Digest of bytes, or of a string's UTF-8 encoding. */
export async function digestBytes(data: Uint8Array | string): Promise<string> {
  const h = await hasher();
  // The one-shot forms: a streaming hasher per call cost planning several times as much.
  return typeof data === 'string' ? h.h64ToString(data) : hex64(h.h64Raw(data));
}

/** Digest of a file's contents, streamed in 1 MiB chunks so any size fits in memory. */
export async function digestFile(file: string): Promise<string> {
  const h = (await hasher()).create64();
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
  }
  return hex64(h.digest());
}
