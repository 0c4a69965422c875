import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A certificate and its key, as files. */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A folder of its own for one test's certificates. */
export function certDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), `${prefix}-`));
}

/** A self-signed CA in `dir` (ca.pem, ca.key). */
export function makeCa(dir: string, name = 'switchyard test CA'): CertFiles {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', `/CN=${name}`, '-keyout', 'ca.key', '-out', 'ca.pem'], dir);
  return { cert: path.join(dir, 'ca.pem'), key: path.join(dir, 'ca.key') };
}

/**
 * A certificate for `ip` (null: none) and localhost signed by `ca`, or self-signed when `ca` is
 * null, written as `<name>.pem` and `<name>.key`.
 */
export function makeCert(dir: string, name: string, ca: CertFiles | null, ip: string | null = '127.0.0.1'): CertFiles & { serial: string } {
  const ext = path.join(dir, `${name}.ext`);
  writeFileSync(ext, `subjectAltName=${ip !== null ? `IP:${ip},` : ''}DNS:localhost\nbasicConstraints=CA:FALSE\n`);
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.pem`);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${name}`, '-keyout', key, '-out', `${name}.csr`], dir);
  const signer = ca === null ? ['-signkey', key] : ['-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial'];
  openssl(['x509', '-req', '-in', `${name}.csr`, ...signer, '-days', '2', '-extfile', ext, '-out', cert], dir);
  const serial = execFileSync('openssl', ['x509', '-in', cert, '-noout', '-serial'], { encoding: 'utf8' }).trim().replace(/^serial=/, '');
  return { cert, key, serial };
}

export function pem(file: string): Buffer {
  return readFileSync(file);
}
