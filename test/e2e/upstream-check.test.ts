import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { auditIdOf, runLines } from '../helpers/runs.ts';
import { waitFor } from '../helpers/tmp.ts';
import { useWorkspace } from '../helpers/workspace.ts';

// An independent writer that behaves like Gatekeeper's Go disk driver: flock(LOCK_EX) on the
// .txt, one write(2) per line, unlock, close, rename to .log, chmod 0666, keep maxAuditResults.
const GO_LIKE_WRITER = String.raw`
import fcntl, os, sys, time, glob
root, channel, run, src, keep = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
d = os.path.join(root, channel)
os.makedirs(d, mode=0o770, exist_ok=True)
txt = os.path.join(d, run + '.txt')
fd = os.open(txt, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o666)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
for line in open(src, 'rb'):
    os.write(fd, line)
fcntl.flock(fd, fcntl.LOCK_UN)
os.close(fd)
log = os.path.join(d, run + '.log')
os.rename(txt, log)
os.chmod(log, 0o666)
logs = sorted((f for f in glob.glob(os.path.join(d, '*.log')) if not os.path.basename(f).startswith('admission-')), key=lambda f: (os.path.getmtime(f), f))
for f in logs[:max(0, len(logs) - keep)]:
    os.unlink(f)
`;

function runWriter(args: string[]): Promise<number | null> {
  return new Promise((resolve) => {
    const p = spawn('python3', ['-c', GO_LIKE_WRITER, ...args], { stdio: 'inherit' });
    p.on('close', (code) => resolve(code));
  });
}

describe('the upstream end-to-end check', () => {
  const ws = useWorkspace();

  it.each([{ follow: false }, { follow: true }])(
    'counts every violation of every constraint on stdout (follow-open: $follow)',
    async ({ follow }) => {
      const root = ws.root;
      const reader = ws.readerProcess([
        '--poll-interval',
        '100ms',
        ...(follow ? ['--follow-open'] : []),
      ]);
      const expected = new Map<string, number>();
      for (let i = 0; i < 4; i++) {
        const id = auditIdOf(i);
        const lines = runLines(id, 150 + i);
        for (const l of lines.slice(1, -1)) {
          const key = `${id} ${(JSON.parse(l) as { name: string }).name}`;
          expected.set(key, (expected.get(key) ?? 0) + 1);
        }
        const src = ws.path(`src-${i}.jsonl`);
        await writeFile(src, lines.join(''));
        // The writer's retention keeps only 1 run; audits are minutes apart in a cluster, so
        // the next run starts once this one is on stdout.
        expect(await runWriter([root, 'audit-channel', id.replaceAll(':', '_'), src, '1'])).toBe(0);
        const soFar = [...expected.values()].reduce((a, b) => a + b, 0);
        await waitFor(() => reader.lines().length >= soFar, `run ${i} on stdout`);
      }
      const total = [...expected.values()].reduce((a, b) => a + b, 0);
      await waitFor(() => reader.lines().length >= total, `${total} lines on stdout`);
      reader.child.kill('SIGTERM');
      expect((await reader.exited).code).toBe(0);
      const out = reader.lines();
      for (const [key, count] of expected) {
        const [id, name] = key.split(' ');
        // The exact check of Gatekeeper's e2e test, run on `kubectl logs -c reader`.
        const n = out.filter(
          (l) =>
            l.includes(`"id":"${id}"`) &&
            l.includes('"eventType":"violation_audited"') &&
            l.includes(`"name":"${name}"`),
        ).length;
        expect(n, key).toBe(count);
      }
      expect(out).toHaveLength(total);
    },
  );
});
