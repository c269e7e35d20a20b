export { KnowledgeBase, evolveNode } from "./model.ts";
export type { MeshEvent, MeshEventContext, NodeState, TopologyLink } from "./model.ts";
export { KnowledgeBaseProjection } from "./projection.ts";
export type { KnowledgeBaseProjectionOptions } from "./projection.ts";
