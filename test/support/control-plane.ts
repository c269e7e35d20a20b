import type { NatsConnection } from "@nats-io/transport-node";
import { HealingController, type HealingControllerOptions } from "../../adapters/healing-loop/index.ts";
import { IdentityProjection } from "../../projections/identity/index.ts";
import { KnowledgeBaseProjection } from "../../projections/knowledge-base/index.ts";
import { Producer, generateSigningKey, ProducerRegistry, ProjectionRunner, VerifyPool } from "../../streams/index.ts";

/**
 * The parts of `x0 up` the healing loop needs, in the test process: the identity projection
 * (binds enrolled keys), the knowledge base fed from MESH with the loop watching through it,
 * and the loop itself under a fresh control-plane key.
 */
export const startControlPlane = async (nc: NatsConnection, options: Partial<Pick<HealingControllerOptions, "monitor" | "loop" | "tickMs">> = {}) => {
  const producers = await ProducerRegistry.open(nc);
  const verifyPool = new VerifyPool();
  const identity = new IdentityProjection(nc, { registry: producers });
  const identityRunner = new ProjectionRunner(nc, identity, producers, { verifyPool });
  await identityRunner.start();
  const controller = new HealingController({ nc, producers, producer: new Producer("control-plane", generateSigningKey()), ...options });
  const kb = new KnowledgeBaseProjection(nc);
  const kbRunner = new ProjectionRunner(nc, kb, producers, { verifyPool, onApplied: (event) => controller.observe(event) });
  await kbRunner.start();
  await controller.start();
  return {
    controller,
    kb,
    async stop() {
      await controller.stop();
      await kbRunner.stop();
      await identityRunner.stop();
      await verifyPool.close();
    },
  };
};
