import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { XMLParser, XMLValidator } from 'fast-xml-parser'
import { loadConfig, OPTIONS } from '../../src/config.js'
import { tempDir } from '../helpers/engine.js'

// The worked example of the README's "Running a cluster": every file checked by the checker
// this machine has for it (nginx -t; an XML parser for ClickHouse's config files, whose own
// loader needs a server; clicktrail's own config loader for the node environment).
const DIR = resolve(import.meta.dirname, '..', '..', 'deploy', 'cluster')

function nginxBinary (): string | undefined {
  for (const p of ['/usr/sbin/nginx', '/usr/bin/nginx']) if (existsSync(p)) return p
  return undefined
}

t.test('nginx: the load balancer snippet passes nginx -t', async t => {
  const nginx = nginxBinary()
  if (nginx === undefined) {
    t.skip('nginx is not installed (.ci/run installs it): the nginx example was not checked', () => {})
    return
  }
  const dir = tempDir(t)
  // The snippet is http{}-level, as /etc/nginx/conf.d/ files are: wrap it in a minimal main file.
  const main = join(dir, 'nginx.conf')
  writeFileSync(main, `pid ${join(dir, 'nginx.pid')};\nerror_log ${join(dir, 'error.log')};\nevents {}\nhttp {\n  access_log off;\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n  fastcgi_temp_path ${dir}/fcgi;\n  uwsgi_temp_path ${dir}/uwsgi;\n  scgi_temp_path ${dir}/scgi;\n  include ${join(DIR, 'nginx', 'clicktrail.conf')};\n}\n`)
  const r = spawnSync(nginx, ['-t', '-q', '-c', main, '-p', dir], { encoding: 'utf8' })
  t.equal(r.status, 0, `nginx -t: ${r.stderr}`)
  // And the check is a real one: a broken copy fails it.
  const broken = join(dir, 'broken.conf')
  writeFileSync(broken, readFileSync(main, 'utf8').replace(join(DIR, 'nginx', 'clicktrail.conf'), join(dir, 'bad-snippet.conf')))
  writeFileSync(join(dir, 'bad-snippet.conf'), readFileSync(join(DIR, 'nginx', 'clicktrail.conf'), 'utf8').replace('proxy_http_version 1.1;', 'proxy_http_version 1.1'))
  t.not(spawnSync(nginx, ['-t', '-q', '-c', broken, '-p', dir], { encoding: 'utf8' }).status, 0, 'a missing ; is caught')
})

t.test('ClickHouse: well-formed config files that agree on the cluster, Keeper and macros', async t => {
  const files = readdirSync(join(DIR, 'clickhouse')).filter(f => f.endsWith('.xml'))
  t.same(files.sort(), ['cluster.xml', 'node1.xml', 'node2.xml', 'node3.xml'])
  const parser = new XMLParser({ ignoreAttributes: false })
  const parsed: Record<string, any> = {}
  for (const f of files) {
    const text = readFileSync(join(DIR, 'clickhouse', f), 'utf8')
    t.equal(XMLValidator.validate(text), true, `${f} is well-formed XML`)
    parsed[f] = parser.parse(text).clickhouse
    t.ok(parsed[f] !== undefined, `${f} has a <clickhouse> root`)
  }
  t.not(XMLValidator.validate('<clickhouse><macros></clickhouse>'), true, 'the validator does refuse broken XML')
  const cluster = parsed['cluster.xml']
  const replicas = ([] as Array<{ host: string }>).concat(cluster.remote_servers.c1.shard.replica).map(r => r.host)
  const keeper = ([] as Array<{ host: string }>).concat(cluster.zookeeper.node).map(n => n.host)
  const raft = ([] as Array<{ id: number, hostname: string }>).concat(cluster.keeper_server.raft_configuration.server)
  t.equal(replicas.length, 3, 'three replicas of cluster c1')
  t.same(keeper, replicas, 'Keeper runs on the three ClickHouse nodes')
  t.same(raft.map(s => s.hostname), replicas, 'the Raft group is those three')
  for (let i = 1; i <= 3; i++) {
    const node = parsed[`node${i}.xml`]
    t.equal(node.keeper_server.server_id, raft[i - 1].id, `node${i}.xml: its Keeper id is in the Raft group`)
    t.ok(String(node.macros.shard) !== '' && String(node.macros.replica) !== '', `node${i}.xml: shard and replica macros (used by clicktrail's replica paths)`)
  }
  t.equal(new Set([1, 2, 3].map(i => parsed[`node${i}.xml`].macros.replica)).size, 3, 'each replica has its own name')
})

t.test('clicktrail: every variable of the node environment is an option, and it loads', async t => {
  const text = readFileSync(join(DIR, 'clicktrail', 'node.env'), 'utf8')
  const env: Record<string, string> = {}
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line)
    t.ok(m !== null, `an assignment: ${line}`)
    if (m !== null) env[m[1]] = m[2]
  }
  const known = new Set(OPTIONS.map(o => o.env))
  for (const k of Object.keys(env)) t.ok(known.has(k), `${k} is a clicktrail option`)
  const config = loadConfig({}, env)
  t.equal(config.clickhouseCluster, 'c1')
  t.equal(config.redirectFront, false, 'behind nginx, which answers HTTP/1.0 clients')
  t.same(config.trustedProxies.length, 1)
})
