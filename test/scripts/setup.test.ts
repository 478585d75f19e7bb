import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../fixtures/cli.ts';
import { makeTempDir } from '../fixtures/model.ts';

const exec = promisify(execFile);

/**
 * Runs `script` in bash after sourcing scripts/setup (its functions; `main` does not run), as
 * root without sudo (`need_root` stubbed), with `bin` first on PATH. Never throws: returns the
 * exit code with the output.
 */
async function sourced(script: string, env: Record<string, string> = {}, bin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const prelude = 'source scripts/setup; need_root() { root_prefix=(); as_root_error=""; };';
  try {
    const { stdout, stderr } = await exec('bash', ['-c', `${prelude} ${script}`], { cwd: ROOT, env: { ...process.env, ...env, PATH: `${bin ? `${bin}:` : ''}${process.env.PATH}` } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/**
 * A fake `apt-get` that logs its arguments (one call per line) and, while the count file says
 * so, fails the way apt does when another process holds a lock.
 */
async function fakeAptGet(failures: number, lock: 'dpkg' | 'lists'): Promise<{ bin: string; log: string }> {
  const dir = await makeTempDir('openlora-fake-apt-');
  const bin = join(dir, 'bin');
  await mkdir(bin);
  const log = join(dir, 'calls');
  const count = join(dir, 'failures');
  await writeFile(count, String(failures));
  const message =
    lock === 'dpkg'
      ? 'E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (unattended-upgr)\nE: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?'
      : 'E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)\nE: Unable to lock directory /var/lib/apt/lists/';
  await writeFile(
    join(bin, 'apt-get'),
    `#!/usr/bin/env bash
echo "$*" >> '${log}'
n=$(cat '${count}')
if [ "$n" -gt 0 ]; then
  echo $((n - 1)) > '${count}'
  echo 'Reading package lists...'
  printf '%s\\n' '${message.replaceAll("'", "'\\''")}' >&2
  exit 100
fi
echo 'Reading package lists... Done'
`,
  );
  await chmod(join(bin, 'apt-get'), 0o755);
  return { bin, log };
}

describe('scripts/setup', () => {
  it('leaves an existing XDG_RUNTIME_DIR as it was (a 1777 directory stays 1777)', async () => {
    const dir = join(await makeTempDir('openlora-xdg-test-'), 'shared');
    await mkdir(dir);
    await chmod(dir, 0o1777);
    const before = await stat(dir);
    const { stderr } = await exec('bash', ['scripts/setup'], { cwd: ROOT, env: { ...process.env, XDG_RUNTIME_DIR: dir } });
    expect(stderr).toContain('setup: ready');
    const after = await stat(dir);
    expect((after.mode & 0o7777).toString(8)).toBe('1777');
    expect([after.uid, after.gid]).toEqual([before.uid, before.gid]);
  });

  it('package installs wait for the dpkg lock with apt`s bounded timeout and report apt`s own error line', async () => {
    const { bin, log } = await fakeAptGet(99, 'dpkg');
    const r = await sourced('apt_install mesa-vulkan-drivers libvulkan1 || { echo "error: $apt_error"; exit 1; }', { OPENLORA_APT_LOCK_TIMEOUT: '0' }, bin);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?');
    expect(r.stdout).toContain('held by process 4242');
    expect(r.stdout).not.toMatch(/not root/);
    const calls = (await readFile(log, 'utf8')).trim().split('\n');
    expect(calls).toEqual(['-o DPkg::Lock::Timeout=0 update -q']); // update failed: install never ran
  });

  it('retries `apt-get update` while another process holds the lists lock, then installs', async () => {
    const { bin, log } = await fakeAptGet(1, 'lists');
    const r = await sourced('apt_install mesa-vulkan-drivers && echo installed', { OPENLORA_APT_LOCK_TIMEOUT: '60' }, bin);
    expect(r.stdout.trim()).toBe('installed');
    const calls = (await readFile(log, 'utf8')).trim().split('\n');
    expect(calls).toEqual(['-o DPkg::Lock::Timeout=60 update -q', '-o DPkg::Lock::Timeout=60 update -q', '-o DPkg::Lock::Timeout=60 install -y -q --no-install-recommends mesa-vulkan-drivers']);
  });

  it('gives up on a lock that stays held once the timeout has passed', async () => {
    const { bin, log } = await fakeAptGet(99, 'lists');
    const r = await sourced('apt_get update -q || { echo "error: $apt_error"; exit 1; }', { OPENLORA_APT_LOCK_TIMEOUT: '1' }, bin);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('E: Unable to lock directory /var/lib/apt/lists/');
    // Polled about once a second until the timeout (how many polls depends on how fast apt-get starts).
    const calls = (await readFile(log, 'utf8')).trim().split('\n');
    expect(calls.length).toBeLessThan(10);
  });

  it('a failure that is not a lock is reported at once, in apt`s words', async () => {
    const dir = await makeTempDir('openlora-fake-apt-');
    await writeFile(join(dir, 'apt-get'), "#!/usr/bin/env bash\necho \"$*\" >> '" + join(dir, 'calls') + "'\necho 'E: Unable to locate package mesa-vulkan-drivers' >&2\nexit 100\n");
    await chmod(join(dir, 'apt-get'), 0o755);
    const r = await sourced('apt_get install -y mesa-vulkan-drivers || { echo "error: $apt_error"; exit 1; }', { OPENLORA_APT_LOCK_TIMEOUT: '60' }, dir);
    expect(r.stdout.trim()).toBe('error: E: Unable to locate package mesa-vulkan-drivers');
    expect((await readFile(join(dir, 'calls'), 'utf8')).trim().split('\n')).toHaveLength(1);
  });
});

describe('scripts/setup: the bookworm-backports entry comes from the machine`s own Debian sources', () => {
  async function aptDir(files: Record<string, string>): Promise<string> {
    const dir = await makeTempDir('openlora-apt-');
    await mkdir(join(dir, 'sources.list.d'));
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    return dir;
  }

  it('from a deb822 .sources file: the URI and key of the bookworm stanza (not security, not disabled)', async () => {
    const dir = await aptDir({
      'sources.list.d/debian.sources': [
        'Types: deb',
        '# a comment inside the stanza',
        'URIs: file:///srv/mirror/debian',
        'Suites: bookworm bookworm-updates',
        'Components: main',
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
        '',
        'Types: deb',
        'URIs: file:///srv/mirror/debian-security',
        'Suites: bookworm-security',
        'Components: main',
        '',
        'Enabled: no',
        'Types: deb',
        'URIs: file:///srv/old/debian',
        'Suites: bookworm-backports',
        '',
      ].join('\n'),
      'sources.list.d/other.list.disabled': 'deb file:///elsewhere bookworm-backports main\n',
    });
    const r = await sourced('add_backports bookworm || { echo "error: $apt_error"; exit 1; }', { OPENLORA_APT_DIR: dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`added ${dir}/sources.list.d/bookworm-backports.sources`);
    expect(await readFile(join(dir, 'sources.list.d', 'bookworm-backports.sources'), 'utf8')).toBe(
      'Types: deb\nURIs: file:///srv/mirror/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n',
    );
    // Idempotent: an enabled entry now names bookworm-backports, so nothing is written again.
    const again = await sourced('add_backports bookworm && echo same', { OPENLORA_APT_DIR: dir });
    expect(again.stdout.trim()).toBe('same');
    expect(again.stderr).not.toContain('added');
  });

  it('from one-line sources.list entries, options and comments included; URIs on continuation lines', async () => {
    const dir = await aptDir({
      'sources.list': [
        '# deb file:///commented/debian bookworm main',
        'deb-src file:///srv/src/debian bookworm main',
        'deb [ arch=amd64 signed-by=/usr/share/keyrings/local.gpg ] mirror+file:///etc/apt/mirrors.txt bookworm main contrib # trailing comment',
        'deb file:///srv/mirror/debian-security bookworm-security main',
      ].join('\n'),
    });
    const r = await sourced('backports_entry bookworm', { OPENLORA_APT_DIR: dir });
    expect(r.stdout).toBe('Types: deb\nURIs: mirror+file:///etc/apt/mirrors.txt\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/local.gpg\n');

    const multi = await aptDir({ 'sources.list.d/d.sources': 'Types: deb deb-src\nURIs:\n file:///srv/a/debian\nSuites: bookworm\nComponents: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n -----END PGP PUBLIC KEY BLOCK-----\n' });
    const m = await sourced('backports_entry bookworm', { OPENLORA_APT_DIR: multi });
    // An inline key is not copied (apt falls back to its trusted keyrings).
    expect(m.stdout).toBe('Types: deb\nURIs: file:///srv/a/debian\nSuites: bookworm-backports\nComponents: main\n');
  });

  it('refuses, naming where it looked, when the sources have no bookworm entry', async () => {
    const dir = await aptDir({ 'sources.list': 'deb cdrom:[Debian 12]/ bookworm main\n' });
    const r = await sourced('add_backports bookworm || { echo "error: $apt_error"; exit 1; }', { OPENLORA_APT_DIR: dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`no enabled 'deb' entry for bookworm in ${dir}/sources.list or ${dir}/sources.list.d/`);
    expect(await readdir(join(dir, 'sources.list.d'))).toEqual([]);
  });

  it('never overwrites a backports file of the user`s that disables it', async () => {
    const disabled = 'Enabled: no\nTypes: deb\nURIs: file:///srv/mirror/debian\nSuites: bookworm-backports\nComponents: main\n';
    const dir = await aptDir({ 'sources.list': 'deb file:///srv/mirror/debian bookworm main\n', 'sources.list.d/bookworm-backports.sources': disabled });
    const r = await sourced('add_backports bookworm || { echo "error: $apt_error"; exit 1; }', { OPENLORA_APT_DIR: dir });
    expect(r.stdout).toContain(`error: ${dir}/sources.list.d/bookworm-backports.sources exists but enables no bookworm-backports entry`);
    expect(await readFile(join(dir, 'sources.list.d', 'bookworm-backports.sources'), 'utf8')).toBe(disabled);
  });

  it('names no host: the script holds no URL', async () => {
    expect(await readFile(join(ROOT, 'scripts', 'setup'), 'utf8')).not.toMatch(/[a-z+]+:\/\/[a-z0-9]/i);
  });
});
