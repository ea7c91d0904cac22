// Shapes returned by the Tether API (see src/tether/api in the Python package).

export interface Session {
  user: string;
  role: "readonly" | "admin";
  /** Set for a project token: it sees only this project's applications. */
  project?: string | null;
}

export interface Condition {
  type: string;
  reason: string;
  message: string;
}

export interface AppSummary {
  name: string;
  namespace: string;
  repoURL: string;
  path: string;
  targetRevision: string;
  sync: string;
  health: string;
  healthMessage: string;
  revision: string;
  revisionMessage: string;
  /** What runs now (the last deployment); differs from ``revision`` while out of sync. */
  deployedRevision?: string;
  deployedMessage?: string;
  lastSyncedAt: string;
  operation: string;
  autoSync: boolean;
  paused: boolean;
  pausedReason: string;
  project?: string;
  /** The Application's conditions: SyncWindow, ComparisonError, SharedResource... */
  conditions?: Condition[];
}

export interface HealthInfo {
  status: string;
  message: string;
  reason?: string;
}

export interface TreeNode {
  id: string;
  uid: string;
  group: string;
  kind: string;
  namespace: string;
  name: string;
  role: "managed" | "child" | "history" | "orphan";
  health: HealthInfo;
  revision: string;
  owner: string;
  note: string;
}

export interface Tree {
  nodes: TreeNode[];
  edges: { from: string; to: string }[];
}

export interface TreeEvent {
  app: AppSummary;
  tree: Tree;
}

export interface ExplainLink {
  kind: string;
  name: string;
  status: string;
  reason: string;
  cause: string;
  headline: string;
}

export interface Explain {
  status: string;
  text: string;
  chain: ExplainLink[];
  nextStep?: string;
  next_step?: string;
  also?: string[];
}

export interface HistoryEntry {
  id: number;
  revision: string;
  deployedAt: string;
  initiatedBy: string;
  message: string;
}

export interface KubeEvent {
  type?: string;
  reason?: string;
  message?: string;
  object?: string;
  count?: number;
  lastTimestamp?: string;
  eventTime?: string;
  involvedObject?: { kind?: string; name?: string };
  metadata?: { creationTimestamp?: string };
}

export interface ResourceDetail {
  manifest: Record<string, unknown> | null;
  events: KubeEvent[];
  diff: string;
}

export interface RegistryNamespace {
  namespace: string;
  secretName?: string;
  ready?: boolean;
  expiresAt?: string | null;
  lastRefresh?: string | null;
  lastError?: string | null;
}

export interface RegistryCredential {
  name: string;
  registry?: string;
  provider?: string;
  expiresAt?: string | null;
  lastRefresh?: string | null;
  lastError?: string | null;
  namespaces?: RegistryNamespace[];
}
