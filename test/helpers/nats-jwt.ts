/**
 * A throwaway NATS operator-mode setup for tests, without `nsc`: an operator, a system account, one
 * application account with JetStream, and user credentials files (JWT + seed), all signed here with
 * @nats-io/nkeys. Claims follow the NATS JWT v2 layout (ed25519-nkey signatures, base64url parts).
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type KeyPair, createAccount, createOperator, createUser } from '@nats-io/nkeys';

const b64 = (b: Uint8Array | string): string => Buffer.from(b).toString('base64url');

function jwt(signer: KeyPair, sub: string, name: string, nats: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  const claims: Record<string, unknown> = { iat: Math.floor(Date.now() / 1000), iss: signer.getPublicKey(), name, sub, ...extra, nats: { ...nats, version: 2 } };
  claims.jti = createHash('sha256').update(JSON.stringify(claims)).digest('base64url').slice(0, 52).toUpperCase();
  const head = `${b64(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }))}.${b64(JSON.stringify(claims))}`;
  return `${head}.${b64(signer.sign(new TextEncoder().encode(head)))}`;
}

/** Subject permissions of a user JWT (`{ allow, deny }` per direction). */
export interface UserPermissions {
  pub?: { allow?: string[]; deny?: string[] };
  sub?: { allow?: string[]; deny?: string[] };
}

/** An operator-mode server config file and a way to mint user credentials files. */
export interface OperatorSetup {
  /** nats-server config file (operator, system account, memory resolver with both accounts). */
  conf: string;
  /** Write a creds file for a new user of the app account; `expiresAt` in seconds since the epoch. */
  user(name: string, permissions?: UserPermissions, expiresAt?: number): string;
}

/** Create the operator, accounts and config file under `dir`. */
export function operatorSetup(dir: string): OperatorSetup {
  const op = createOperator();
  const acc = createAccount();
  const sys = createAccount();
  const limits = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
  const opJwt = jwt(op, op.getPublicKey(), 'test-operator', { type: 'operator', system_account: sys.getPublicKey() });
  const accJwt = jwt(op, acc.getPublicKey(), 'app', { type: 'account', limits: { ...limits, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 } });
  const sysJwt = jwt(op, sys.getPublicKey(), 'SYS', { type: 'account', limits });
  const conf = join(dir, 'operator.conf');
  writeFileSync(
    conf,
    `operator: ${opJwt}\nsystem_account: ${sys.getPublicKey()}\nresolver: MEMORY\nresolver_preload: {\n  ${acc.getPublicKey()}: ${accJwt}\n  ${sys.getPublicKey()}: ${sysJwt}\n}\n`,
  );
  return {
    conf,
    user(name, permissions = {}, expiresAt) {
      const u = createUser();
      const userJwt = jwt(acc, u.getPublicKey(), name, { type: 'user', pub: permissions.pub ?? {}, sub: permissions.sub ?? {}, subs: -1, data: -1, payload: -1 }, expiresAt ? { exp: expiresAt } : {});
      const file = join(dir, `${name}.creds`);
      const seed = new TextDecoder().decode(u.getSeed());
      writeFileSync(file, `-----BEGIN NATS USER JWT-----\n${userJwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`, { mode: 0o600 });
      return file;
    },
  };
}
