import { describe, expect, it } from 'vitest';
import { ToolRegistry, createDefaultToolRegistry } from './registry.js';
import { logTool } from './log-tool.js';

describe('tool registry', () => {
  const registry = createDefaultToolRegistry();

  it('holds every built-in tool', () => {
    expect(registry.list().map((t) => t.name)).toEqual([
      'http',
      'llm',
      'transform',
      'condition',
      'delay',
      'wait_for_event',
      'webhook',
      'email',
      'workflow',
      'log',
    ]);
    expect(registry.has('http')).toBe(true);
    expect(registry.has('shell')).toBe(false);
    expect(registry.get('log')).toBe(logTool);
    expect(registry.get('nope')).toBeUndefined();
  });

  it('describes params as JSON Schema for step authors and generators', () => {
    for (const tool of registry.list()) {
      expect(tool.description.length).toBeGreaterThan(40);
      expect(tool.paramsJsonSchema).toMatchObject({ type: 'object', additionalProperties: false });
    }
    const http = registry.list().find((t) => t.name === 'http')!.paramsJsonSchema as {
      properties: Record<string, { enum?: string[] }>;
      required: string[];
    };
    expect(http.required).toEqual(['url']);
    expect(http.properties.method?.enum).toContain('POST');
  });

  it('refuses two tools with one name', () => {
    expect(() => new ToolRegistry([logTool, logTool])).toThrow("tool 'log' is registered twice");
  });
});
