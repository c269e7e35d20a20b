export { Auditor, AuditDivergenceError } from "./auditor.ts";
export type { AuditorOptions, ChainHead } from "./auditor.ts";
export { verifyAuditLog, enrolledAuditorKeys } from "./verify.ts";
export type { Divergence, DivergenceReason, SignatureFailure, VerifyOptions, VerifyProgress, VerifyReport } from "./verify.ts";
export { AuditProofs, AuditQueryError } from "./proofs.ts";
export { knowledgeBaseAsOf } from "./as-of.ts";
export type { AsOfOptions, KnowledgeBaseAsOf } from "./as-of.ts";
export { ReplayAuditCheck, withAuditVerdict } from "./replay-check.ts";
export type { AuditVerdict } from "./replay-check.ts";
