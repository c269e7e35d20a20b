/** The healing loop on the backbone: the pure MAPE-K decisions of domains/healing, fed and heard through JetStream. */
export { HealingController } from "./controller.ts";
export type { HealingControllerOptions } from "./controller.ts";
