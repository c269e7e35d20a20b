/**
 * Differential privacy for federated learning: clipping, Gaussian noise, the DP-FedAvg server
 * mechanism with fixed or adaptive clipping, and an RDP accountant that matches Opacus's.
 */
export { clipUpdate, l2Norm } from "./clip.ts";
export type { ClippedUpdate } from "./clip.ts";
export { addGaussianNoise, cryptoRandomSource, seededRandomSource } from "./noise.ts";
export type { RandomSource } from "./noise.ts";
export { checkRoundBudget, dpFedAvgParameters, dpFedAvgRound, initialDpFedAvgState, recordRound, roundMechanism, sampleClients } from "./dp-fedavg.ts";
export type { AdaptiveClipping, ClientModel, DpFedAvgConfig, DpFedAvgParameters, DpFedAvgState, DpRoundOutcome, DpRoundReport, FixedClipping } from "./dp-fedavg.ts";
export { DEFAULT_ORDERS, epsilonFromRdp, logA, PrivacyParameterError, RdpAccountant, rdpOfStep, rdpOfSteps } from "./rdp.ts";
export type { BudgetCheck, MechanismSteps, PrivacyBudget, PrivacySpent } from "./rdp.ts";
export { erfc, logAdd, logErfc, logSub } from "./log-math.ts";
