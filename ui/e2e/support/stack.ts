// The local stack the browser tests run against: .awe/dev.env (database
// URL, JWT secret), the console's URL, psql as superuser, local tokens.
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const AWE_HOME = process.env.AWE_HOME ?? join(REPO, '.awe');

export function repoPath(...parts: string[]): string {
  return join(REPO, ...parts);
}

export function devEnv(): Record<string, string> {
  const file = join(AWE_HOME, 'dev.env');
  if (!existsSync(file)) throw new Error(`${file} is missing: run make up first`);
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]] = m[2];
  }
  return env;
}

export function consoleUrl(): string {
  if (process.env.AWE_CONSOLE_URL) return process.env.AWE_CONSOLE_URL;
  const file = join(AWE_HOME, 'console.url');
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : 'http://127.0.0.1:54381/';
}

function psqlBinary(): string {
  const bin = process.env.AWE_PG_BIN;
  return bin && existsSync(join(bin, 'psql')) ? join(bin, 'psql') : 'psql';
}

/** Runs SQL as the superuser (statements separated by `;` on their own), returning the last statement's rows as text. */
export function sql(statements: string, tenant?: string): string {
  const env = devEnv();
  const script = `${tenant ? `set awe.tenant = '${tenant}';\n` : ''}${statements}`;
  return execFileSync(psqlBinary(), ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', env.DATABASE_URL, '-f', '-'], {
    input: script,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  }).trim();
}

/** A SQL string literal. */
export function lit(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

export type Role = 'awe_viewer' | 'awe_approver' | 'awe_caller' | 'awe_admin';

const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

/** A local HS256 token, as `awe token` mints them (the secret stays in the test process). */
export function mintToken(sub: string, role: Role, tenant: string, ttlSeconds = 3600): string {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const now = Math.floor(Date.now() / 1000);
  const payload = b64url(JSON.stringify({ sub, role, tenant, iat: now, exp: now + ttlSeconds }));
  const signature = createHmac('sha256', devEnv().AWE_JWT_SECRET).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

/** A tenant of its own, so suites run beside each other and beside other test layers. */
export function newTenant(prefix: string): string {
  const id = `ui_${prefix}_${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  sql(`select awe.create_tenant(${lit(id)}, ${lit('console test ' + prefix)});`);
  return id;
}
