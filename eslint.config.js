// The linter `make test` runs: neostandard (standard's rules for modern ESLint, with
// TypeScript through typescript-eslint). No blanket disables; a line-level disable names
// its rule and says why.
import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'node_modules/**', 'bench/results/**', '.tap/**'] })
]
