import type { WorkflowDefinition } from '../domain/workflow.js';

export interface DefinitionSource {
  definitionAt(workflowId: string, version: number): Promise<WorkflowDefinition>;
}

/** Versions never change once written, so a small bounded cache saves a read per claimed run. */
export class DefinitionCache implements DefinitionSource {
  private readonly entries = new Map<string, Promise<WorkflowDefinition>>();

  constructor(
    private readonly source: DefinitionSource,
    private readonly capacity = 1000,
  ) {}

  definitionAt(workflowId: string, version: number): Promise<WorkflowDefinition> {
    const key = `${workflowId}@${version}`;
    const cached = this.entries.get(key);
    if (cached) return cached;
    const loading = this.source.definitionAt(workflowId, version);
    loading.catch(() => this.entries.delete(key));
    this.entries.set(key, loading);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    return loading;
  }
}
