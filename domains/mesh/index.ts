export {
  HeartbeatSent,
  LinkMetricsReported,
  LinkSample,
  meshEvents,
  meshSubject,
  meshSubjectKind,
  NodeAnnounced,
  NodeMetricsReported,
} from "./events.ts";
