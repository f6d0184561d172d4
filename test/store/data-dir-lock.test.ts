import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { lstatSync, readlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { hostname } from 'node:os'
import { lockDataDir, LOCK_FILE } from '../../src/store/data-dir-lock.js'
import { tempDir } from '../helpers/engine.js'

// The lock is a symbolic link whose target names the holder: `pid:start:command:host`.
function present (path: string): boolean {
  try { lstatSync(path); return true } catch { return false }
}
function holder (path: string): { pid: number, start: string, command: string, host: string } {
  const [pid, start, command, ...host] = readlinkSync(path).split(':')
  return { pid: Number(pid), start, command, host: host.join(':') }
}

// Other holders are real processes (a child that is alive, one that has exited); only the
// cases no process can produce for real on demand (a lock written on another host, a pid
// that came round again after a reboot) are lock files written by hand.

t.test('one holder at a time; released, it can be taken again', async t => {
  const dir = tempDir(t)
  const lock = lockDataDir(dir)
  const recorded = holder(join(dir, LOCK_FILE))
  t.match(recorded, { pid: process.pid, command: 'serve' })
  t.throws(() => lockDataDir(dir, 'init'), { code: 'CT_ERR_DATA_DIR_LOCKED', message: new RegExp(`in use by clicktrail serve \\(pid ${process.pid}\\)`) }, 'a second engine of this process is refused')
  lock.release()
  t.notOk(present(join(dir, LOCK_FILE)), 'release removes the file')
  lock.release()
  const again = lockDataDir(dir)
  again.release()
})

t.test('a live process holding the lock refuses; once it is gone the lock is stale and taken over', async t => {
  const dir = tempDir(t)
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    import { lockDataDir } from ${JSON.stringify(new URL('../../dist/store/data-dir-lock.js', import.meta.url).href)}
    lockDataDir(${JSON.stringify(dir)}, 'serve')
    console.log('locked')
    process.stdin.resume()
    process.stdin.on('end', () => process.kill(process.pid, 'SIGKILL'))`], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill('SIGKILL') })
  await new Promise<void>(resolve => { child.stdout.once('data', () => { resolve() }) })
  t.throws(() => lockDataDir(dir), { code: 'CT_ERR_DATA_DIR_LOCKED', message: new RegExp(`pid ${child.pid}`) })
  // kill -9: no exit handler runs, the lock file stays behind.
  child.stdin.end()
  await new Promise(resolve => child.on('exit', resolve))
  t.ok(present(join(dir, LOCK_FILE)), 'the dead process left its lock')
  const lock = lockDataDir(dir)
  t.equal(holder(join(dir, LOCK_FILE)).pid, process.pid, 'taken over')
  lock.release()
})

t.test('a normal exit without release removes the lock', async t => {
  const dir = tempDir(t)
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `
    import { lockDataDir } from ${JSON.stringify(new URL('../../dist/store/data-dir-lock.js', import.meta.url).href)}
    lockDataDir(${JSON.stringify(dir)}); process.exit(1)`], { encoding: 'utf8' })
  t.equal(r.status, 1, r.stderr)
  t.notOk(present(join(dir, LOCK_FILE)))
})

t.test('stale and foreign lock files', async t => {
  const dir = tempDir(t)
  const path = join(dir, LOCK_FILE)
  // A pid that is alive (ours) but started at another time: the pid came round again.
  writeFileSync(path, JSON.stringify({ pid: process.pid, start: '1', host: hostname(), command: 'serve' }))
  const reused = lockDataDir(dir)
  t.not(holder(path).start, '1', 'a pid that came round again is stale')
  reused.release()
  // Another live process with the recorded pid, but not the one that wrote the lock.
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' })
  t.teardown(() => { other.kill('SIGKILL') })
  await new Promise(resolve => other.once('spawn', resolve))
  writeFileSync(path, JSON.stringify({ pid: other.pid, start: '1', host: hostname(), command: 'serve' }))
  const taken = lockDataDir(dir)
  t.equal(holder(path).pid, process.pid, 'a live pid with another start time is stale')
  taken.release()
  // A torn or garbage file of the earlier format (only a crash leaves one): stale.
  writeFileSync(path, '{"pid":')
  const torn = lockDataDir(dir)
  t.equal(holder(path).pid, process.pid, 'a torn lock is stale')
  torn.release()
  // Another host: its liveness cannot be checked from here, so it is never taken over.
  writeFileSync(path, JSON.stringify({ pid: 1, start: '1', host: 'another-host.example', command: 'serve' }))
  t.throws(() => lockDataDir(dir), { code: 'CT_ERR_DATA_DIR_LOCKED', message: /pid 1 on another-host\.example/ })
  t.ok(present(path), 'left in place')
})
