import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError } from '../errors.ts';
import { isKeyId } from '../protocol/signing.ts';

/** Flags of `celeriac keys generate`. */
export interface KeysFlags {
  out?: string;
  id?: string;
  aes?: boolean;
  force?: boolean;
}

/**
 * `celeriac keys generate`: write an Ed25519 key pair (`<id>.key`, mode 0600, and `<id>.pub`) and,
 * with `--aes`, a random AES-256 key (`<id>.aes`, base64, mode 0600) for `createApp({ security })`
 * (docs/guide/message-signing.md). Refuses to overwrite files unless `--force`.
 */
export function runKeysGenerate(action: string, flags: KeysFlags): number {
  if (action !== 'generate') throw new InvalidArgumentError(`keys: unknown action ${JSON.stringify(action)}; use generate`);
  const id = flags.id ?? 'default';
  if (!isKeyId(id)) throw new InvalidArgumentError(`--id must be 1-64 characters of [A-Za-z0-9_.-], got ${JSON.stringify(id)}`);
  const dir = resolve(flags.out ?? '.');
  mkdirSync(dir, { recursive: true });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const flag = flags.force ? 'w' : 'wx';
  const files: Array<[string, string, number]> = [
    [join(dir, `${id}.key`), privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600],
    [join(dir, `${id}.pub`), publicKey.export({ type: 'spki', format: 'pem' }).toString(), 0o644],
  ];
  if (flags.aes) files.push([join(dir, `${id}.aes`), `${randomBytes(32).toString('base64')}\n`, 0o600]);
  // All checked before any is written: a refusal must not leave a new key next to an old one.
  const existing = flags.force ? [] : files.map(([path]) => path).filter((path) => existsSync(path));
  if (existing.length > 0) throw new InvalidArgumentError(`${existing.join(', ')} exist${existing.length === 1 ? 's' : ''}; nothing written; pass --force to overwrite`);
  for (const [path, text, mode] of files) {
    try {
      writeFileSync(path, text, { flag, mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new InvalidArgumentError(`${path} exists; pass --force to overwrite it`);
      throw err;
    }
    process.stdout.write(`${path}\n`);
  }
  const aes = flags.aes ? `, encryptionKey: '${join(dir, `${id}.aes`)}', encryptionKeyId: '${id}'` : '';
  process.stderr.write(
    `\nproducers and workers:  security: { signingKey: '${join(dir, `${id}.key`)}', keyId: '${id}'${aes} }\n` +
      `verify-only processes:  security: { verifyKeys: { '${id}': '${join(dir, `${id}.pub`)}' } }\n` +
      'keep the .key and .aes files secret (mode 0600); the .pub file may be shared.\n',
  );
  return 0;
}
