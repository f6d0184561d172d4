import { pino, type Logger } from 'pino'

export type { Logger }

/** JSON logs to stderr (stdout stays for command output such as the example URL). */
export function createLogger (level = 'info'): Logger {
  return pino({ level, base: { svc: 'clicktrail' } }, pino.destination({ fd: 2, sync: false }))
}

export const silentLogger: Logger = pino({ level: 'silent' })
