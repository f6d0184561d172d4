/**
 * Types for ua-parser-js 1.0.x (MIT), which ships none; only what ua.ts uses. 2.x ships
 * its own types but is AGPL-3.0 and must not be used.
 */
declare module 'ua-parser-js' {
  namespace UAParser {
    interface IBrowser { name?: string, version?: string, major?: string }
    interface IOS { name?: string, version?: string }
    interface IDevice { model?: string, type?: string, vendor?: string }
    interface IEngine { name?: string, version?: string }
    interface IResult { ua: string, browser: IBrowser, os: IOS, device: IDevice, engine: IEngine }
  }
  class UAParser {
    constructor (ua?: string)
    setUA (ua: string): UAParser
    getResult (): UAParser.IResult
    getBrowser (): UAParser.IBrowser
    getOS (): UAParser.IOS
    getDevice (): UAParser.IDevice
    getEngine (): UAParser.IEngine
  }
  export = UAParser
}
