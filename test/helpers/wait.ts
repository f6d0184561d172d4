/** Resolves once `check` holds, polling every `everyMs`; throws naming `what` after `ms`. */
export async function until (what: string, check: () => boolean | Promise<boolean>, ms = 60_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
  throw new Error(`timed out waiting for ${what}`)
}
