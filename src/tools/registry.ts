import { z } from 'zod';
import { conditionTool } from './condition-tool.js';
import { delayTool } from './delay-tool.js';
import { emailTool } from './email-tool.js';
import { httpTool } from './http-tool.js';
import { llmTool } from './llm-tool.js';
import { logTool } from './log-tool.js';
import type { StepTool } from './tool.js';
import { transformTool } from './transform-tool.js';
import { waitForEventTool } from './wait-for-event-tool.js';
import { webhookTool } from './webhook-tool.js';
import { workflowTool } from './workflow-tool.js';

/** A tool as listed for people and for LLM-constrained step generation. */
export interface ToolDescription {
  name: string;
  description: string;
  /** JSON Schema (2020-12) of the params a step author writes. */
  paramsJsonSchema: Record<string, unknown>;
}

/** The step tools a Stepwise process knows, by name. */
export class ToolRegistry {
  private readonly tools = new Map<string, StepTool>();
  private descriptions?: ToolDescription[];

  /** @throws Error when two tools share a name. */
  constructor(tools: readonly StepTool[]) {
    for (const tool of tools) {
      if (this.tools.has(tool.name)) throw new Error(`tool '${tool.name}' is registered twice`);
      this.tools.set(tool.name, tool);
    }
  }

  get(name: string): StepTool | undefined {
    return this.tools.get(name);
  }

  has(name: string): boolean {
    return this.tools.has(name);
  }

  /** Every tool with its params as JSON Schema (the input side: defaults make fields optional). */
  list(): ToolDescription[] {
    this.descriptions ??= [...this.tools.values()].map((tool) => ({
      name: tool.name,
      description: tool.description,
      paramsJsonSchema: z.toJSONSchema(tool.params, { io: 'input', unrepresentable: 'any' }) as Record<
        string,
        unknown
      >,
    }));
    return this.descriptions;
  }
}

/** A registry with every built-in tool. */
export function createDefaultToolRegistry(): ToolRegistry {
  return new ToolRegistry([
    httpTool,
    llmTool,
    transformTool,
    conditionTool,
    delayTool,
    waitForEventTool,
    webhookTool,
    emailTool,
    workflowTool,
    logTool,
  ]);
}
