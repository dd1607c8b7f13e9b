/**
 * Regression corpus of the decoder fuzzer: inputs known to hurt msgpack or JSON decoders, each with
 * where it comes from. Every one must give a DecodeError quickly (test/fuzz/corpus.test.ts). Inline
 * hex, or a builder for the long ones.
 */
import { EXTENSIONS, HUGE_DECLARED } from '../lib/mutators.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const utf8 = new TextEncoder();

/** One known-bad input and the codec that reads it. */
export interface KnownBad {
  name: string;
  codec: 'msgpack' | 'json';
  bytes: Uint8Array;
  /** What the DecodeError's message must say. */
  expect: RegExp;
}

export const KNOWN_BAD: readonly KnownBad[] = [
  // msgpackr PR #199: readArray pre-allocated the declared length (153 MB kept alive by 5 bytes).
  { name: '5-byte array32 header', codec: 'msgpack', bytes: HUGE_DECLARED.array32, expect: /declares 4294967295 elements/ },
  // msgpackr PR #200 (open): a chain of nested array16 headers gets past #199's check; ~73 KB of it
  // reached 1.4 GB RSS and an uncatchable heap-out-of-memory abort.
  { name: 'nested array16 chain (msgpackr #200), 73 KB', codec: 'msgpack', bytes: HUGE_DECLARED.array16Chain(24_576), expect: /nests deeper than 64/ },
  { name: 'nested array16 chain, each declaring one element', codec: 'msgpack', bytes: new Uint8Array([...Array.from({ length: 100 }, () => [0xdc, 0x00, 0x01]).flat(), 0xc0]), expect: /nests deeper than 64/ },
  { name: '64 MiB bin32 header', codec: 'msgpack', bytes: new Uint8Array([...HUGE_DECLARED.bin32_64MiB, 1, 2, 3]), expect: /truncated/ },
  { name: 'str32 header of 2 GiB', codec: 'msgpack', bytes: new Uint8Array([...HUGE_DECLARED.str32, 0x61]), expect: /truncated/ },
  { name: 'map32 header of 4G entries', codec: 'msgpack', bytes: HUGE_DECLARED.map32, expect: /declares 8589934590 elements/ },
  { name: 'ext32 header of 64 MiB', codec: 'msgpack', bytes: HUGE_DECLARED.ext32, expect: /truncated/ },
  // CVE-2023-52079: record definitions and structured-clone references (infinite recursion, stuck
  // threads); msgpackr reads record definitions even with useRecords: false.
  { name: 'record definition (ext 0x72) and a record', codec: 'msgpack', bytes: EXTENSIONS.recordDefinitionList as Uint8Array, expect: /extension type 0x72/ },
  { name: 'record definition in ext8 form', codec: 'msgpack', bytes: EXTENSIONS.recordExt8 as Uint8Array, expect: /extension type 0x72/ },
  { name: 'structured-clone reference (ext 0x70)', codec: 'msgpack', bytes: EXTENSIONS.structuredCloneRef as Uint8Array, expect: /extension type 0x70/ },
  { name: 'self-referencing structured clone (ext 0x69 + 0x70)', codec: 'msgpack', bytes: hex('d6 69 00000001 82 a1 61 01 a2 6d 65 d6 70 00000001'), expect: /extension type 0x69/ },
  { name: 'bundled strings (ext 0x62)', codec: 'msgpack', bytes: EXTENSIONS.bundledStrings as Uint8Array, expect: /extension type 0x62/ },
  { name: 'BigInt extension (0x42)', codec: 'msgpack', bytes: EXTENSIONS.bigintExt as Uint8Array, expect: /extension type 0x42/ },
  { name: 'Error extension (0x65)', codec: 'msgpack', bytes: EXTENSIONS.errorExt as Uint8Array, expect: /extension type 0x65/ },
  { name: 'truncated frame: fixmap with no entries', codec: 'msgpack', bytes: hex('81'), expect: /declares 2 elements but only 0 bytes remain/ },
  { name: 'truncated frame: task body cut in its args', codec: 'msgpack', bytes: hex('93 92 01 a5 68 65 6c'), expect: /truncated/ },
  { name: 'trailing bytes', codec: 'msgpack', bytes: hex('c0 c0'), expect: /trailing/ },
  { name: 'never-used type byte 0xc1', codec: 'msgpack', bytes: hex('91 c1'), expect: /invalid type byte 0xc1/ },
  { name: 'empty input', codec: 'msgpack', bytes: new Uint8Array(0), expect: /truncated/ },
  { name: '100 nested fixarrays', codec: 'msgpack', bytes: new Uint8Array([...new Array(100).fill(0x91), 0xc0]), expect: /nests deeper than 64/ },
  // V8's JSON.parse accepts any depth; JSON.stringify / structuredClone of the result overflow the stack.
  { name: '100k nested JSON arrays', codec: 'json', bytes: utf8.encode('['.repeat(100_000) + ']'.repeat(100_000)), expect: /nests deeper than 64/ },
  { name: '65 nested JSON objects', codec: 'json', bytes: utf8.encode('{"a":'.repeat(65) + '1' + '}'.repeat(65)), expect: /nests deeper than 64/ },
  { name: 'truncated JSON', codec: 'json', bytes: utf8.encode('[[1,2],{"a":'), expect: /invalid JSON/ },
  { name: 'invalid UTF-8 in JSON', codec: 'json', bytes: hex('5b 22 ff fe 22 5d'), expect: /invalid JSON/ },
];
