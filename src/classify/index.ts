/** The classifier's public surface: see classify.ts for the model, signals.ts for the data. */
export {
  classify, classifyBatch, classifyGroup, chromeMajorAt, isSecureOrigin, REASON_CODES, reasonCodesMarkdown, THRESHOLD,
  type BotVerdict, type Classification, type ClassifyContext, type ClassifyInput, type ClassifyItem, type GroupOptions
} from './classify.js'
export { clientFields, parseAgent, type AgentInfo, type ClientFields, type ClientType, type DeviceType } from './ua.js'
export { isSharedAddress, lookupNetwork, RangeTable, scannerRanges } from './ranges.js'
export { PARAMS, SIGNALS } from './signals.js'
export { runClassifyTask, packClassifyTask, runPackedClassifyTask, unpackClassified, type ClassifyTask, type Classified, type PackedClassifyTask } from './batch.js'
export { isLinkPreviewAgent } from './ua.js'
