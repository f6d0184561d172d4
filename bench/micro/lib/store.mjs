// The embedded store (chdb) as the engine opens it, in a temp data dir, for the storage
// micro benchmarks: openStore, then the migrations. chdb allows one data path per process.
import { tempDir } from '../../lib/children.mjs'
import { store } from './project.mjs'

export async function openTempStore () {
  const { openStore, loadConfig, migrate } = await store()
  const dataDir = tempDir('ct-micro-store-')
  const config = loadConfig({ 'data-dir': dataDir }, {})
  const s = await openStore(config)
  await migrate(s.writer)
  return { store: s, dataDir, config }
}
