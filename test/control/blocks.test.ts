import t from 'tap'
import { BlockMatcher, normalizeBlockValue, type Block, type BlockKind } from '../../src/control/blocks.js'

function block (kind: BlockKind, value: string): Block {
  const n = normalizeBlockValue(kind, value)
  if ('error' in n) throw new Error(n.error)
  return { block_id: `${kind}:${value}`, kind, value: n.value, reason: 'test', created_at: 0 }
}

t.test('blocks match by project, exact URL, prefix and host (with subdomains)', async t => {
  const m = new BlockMatcher([
    block('project', 'badco'), block('url', 'HTTPS://Phish.example/login?x=1'), block('prefix', 'https://files.example/dl/'),
    block('host', 'evil.example'), block('prefix', 'https://shared.example')
  ])
  t.equal(m.size, 5)
  t.equal(m.match('badco', 'https://fine.example/')?.kind, 'project')
  t.equal(m.match('acme', 'https://phish.example/login?x=1')?.kind, 'url', 'scheme and host case do not matter')
  t.equal(m.match('acme', 'https://phish.example/login?x=2'), undefined, 'an exact URL block is exact')
  t.equal(m.match('acme', 'https://files.example/dl/a.exe')?.kind, 'prefix')
  t.equal(m.match('acme', 'https://files.example/docs/a.pdf'), undefined)
  t.equal(m.match('acme', 'https://evil.example/')?.kind, 'host')
  t.equal(m.match('acme', 'https://a.b.evil.example/x')?.kind, 'host', 'subdomains too')
  t.equal(m.match('acme', 'https://notevil.example/'), undefined, 'not a suffix match on text')
  t.equal(m.match('acme', 'https://shared.example/anything')?.kind, 'prefix', 'a bare origin prefix is the whole origin')
  t.equal(m.match('acme', 'https://EVIL.example:8443/x')?.kind, 'host', 'ports and case do not hide a host')
  t.equal(new BlockMatcher([]).match('acme', 'https://evil.example/'), undefined)
})

t.test('block values are validated', async t => {
  t.match(normalizeBlockValue('url', 'javascript:alert(1)'), { error: /http/ })
  t.match(normalizeBlockValue('prefix', 'not a url'), { error: /http/ })
  t.match(normalizeBlockValue('host', 'bad host!'), { error: /hostname/ })
  t.match(normalizeBlockValue('project', 'UPPER'), { error: /sid/ })
  t.same(normalizeBlockValue('host', 'Bücher.example'), { value: 'xn--bcher-kva.example' })
})
