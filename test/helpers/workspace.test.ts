import { access } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { waitFor } from './tmp.ts';
import { useWorkspace } from './workspace.ts';

// The two tests run in order: the second checks what the first one's clean-up left behind.
describe('useWorkspace', () => {
  const ws = useWorkspace();
  let left: { dir: string; pid: number; order: string[] } | undefined;

  it('gives each test a temp dir with an export root, and cleans up after it', async () => {
    await access(ws.root);
    const order: string[] = [];
    ws.defer(() => order.push('first registered'));
    ws.defer(() => order.push('last registered'));
    const receiver = await ws.receiver();
    expect((await fetch(receiver.url)).status).toBe(200);
    const p = ws.readerProcess();
    await waitFor(() => p.stderr().includes('reader started'), 'the reader process');
    left = { dir: ws.dir, pid: p.child.pid!, order };
  });

  it('has stopped what the previous test left running, in reverse order, and removed its dir', async () => {
    expect(left!.order).toEqual(['last registered', 'first registered']);
    expect(() => process.kill(left!.pid, 0)).toThrow();
    await expect(access(left!.dir)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(ws.dir).not.toBe(left!.dir);
  });
});
