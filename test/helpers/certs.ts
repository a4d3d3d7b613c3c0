import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A test CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
export function makeCerts(dir: string) {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  run(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=gk-export test CA',
  );
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const who of ['server', 'client']) {
    run(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${who}.key`,
      '-out',
      `${who}.csr`,
      '-subj',
      `/CN=${who}`,
    );
    // The server certificate names 127.0.0.1 (server.ext); the client's needs no name.
    const ext = who === 'server' ? ['-extfile', 'server.ext'] : [];
    run(
      'x509',
      '-req',
      '-in',
      `${who}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${who}.crt`,
      '-days',
      '2',
      ...ext,
    );
  }
  const f = (n: string) => join(dir, n);
  return {
    caFile: f('ca.crt'),
    serverKey: readFileSync(f('server.key')),
    serverCert: readFileSync(f('server.crt')),
    ca: readFileSync(f('ca.crt')),
    clientCertFile: f('client.crt'),
    clientKeyFile: f('client.key'),
  };
}

/**
 * Writes `dir/kubeconfig` for a loopback API server on `port` whose certificate `caFile`
 * signs, with a bearer token; returns its path.
 *
 * @example
 * ```ts
 * const kubeconfig = await writeKubeconfig(tmp.dir, port, certs.caFile);
 * ```
 */
export async function writeKubeconfig(dir: string, port: number, caFile: string): Promise<string> {
  const path = join(dir, 'kubeconfig');
  await writeFile(
    path,
    `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:${port}
    certificate-authority: ${caFile}
users:
- name: reader
  user:
    token: test-token
contexts:
- name: test
  context: { cluster: test, user: reader }
current-context: test
`,
  );
  return path;
}
