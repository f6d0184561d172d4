// The parts of mailsplit 5.4 (no bundled types) that rewrite/mime.ts uses.
declare module 'mailsplit' {
  import { Transform } from 'node:stream'

  export interface MimeHeaders {
    get: (key: string) => string[]
    getFirst: (key: string) => string
    hasHeader: (key: string) => boolean
  }

  export interface MimeNode {
    type: 'node'
    root: boolean
    contentType: string | false
    charset: string | false
    encoding: string
    disposition: string | false
    multipart: string | false
    headers: MimeHeaders
    getHeaders: () => Buffer
  }

  export interface MimeChunk {
    type: 'data' | 'body' | 'none'
    value: Buffer
    node?: MimeNode
  }

  export type SplitterItem = MimeNode | MimeChunk

  export interface SplitterOptions {
    ignoreEmbedded?: boolean
    maxHeadSize?: number
    maxChildNodes?: number
  }

  export class Splitter extends Transform {
    constructor (options?: SplitterOptions)
  }

  export class Joiner extends Transform {
    constructor ()
  }
}
