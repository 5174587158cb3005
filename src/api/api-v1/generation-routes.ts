import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Stepwise } from '../../app/stepwise.js';
import { principalOf, requireScope } from '../auth.js';
import { apiV1Workflow } from './representation.js';

const BASE = '/api/v1/workflows';

const workflowParams = z.object({ workflow_id: z.string().min(1).max(200) });

// Fastify hands a request without a body to the validator as null: both fields are optional.
const regenerateBody = z
  .object({
    reason: z.string().trim().min(1).max(2000).optional(),
    force_different_tools: z.boolean().optional(),
  })
  .strict()
  .nullish();

const fromTodoBody = z
  .object({
    todo_id: z.string().trim().min(1, 'a todo_id is required').max(200),
    todo_title: z.string().trim().min(1, 'a todo_title is required').max(200),
    // Clients generated from the document's models send `null` for an absent optional string.
    todo_description: z.string().max(5000).nullish(),
  })
  .strict();

/**
 * Document 004's AI generation routes: regenerate a workflow's steps, and create a workflow
 * from a todo item. Both answer at once with the workflow `generating`; a generation runner
 * plans the steps (with the configured LLM, or from the template catalogue without one) and
 * the workflow ends `active` or `failed`, with `generation` saying how and why.
 */
export function registerApiV1GenerationRoutes(server: FastifyInstance, stepwise: Stepwise): void {
  const app = server.withTypeProvider<ZodTypeProvider>();
  const write = requireScope(stepwise.keys, 'workflows:write');
  const tags = ['workflows (api/v1)'];

  app.post(
    `${BASE}/:workflow_id/regenerate-steps`,
    {
      preValidation: write,
      schema: {
        tags,
        summary: 'Regenerate the steps with AI; 409 while a generation is under way',
        description:
          'Answers 202 with the workflow `generating`. Poll it: it ends `active` with new steps (a new version) ' +
          'or `failed` with `generation.error`. With `force_different_tools`, the new steps use a different set of tools.',
        params: workflowParams,
        body: regenerateBody,
      },
    },
    async (request, reply) => {
      const workflow = await stepwise.generations.regenerate(
        principalOf(request).org_id,
        request.params.workflow_id,
        request.body ?? {},
      );
      return reply.code(202).send(apiV1Workflow(workflow));
    },
  );

  app.post(
    `${BASE}/from-todo`,
    {
      preValidation: write,
      schema: {
        tags,
        summary: 'Create a workflow from a todo item; its steps are generated',
        description:
          'Answers 201 with the workflow `generating`, titled after the todo; `metadata.todo_id` and ' +
          '`generation.request.todo` keep the todo.',
        body: fromTodoBody,
      },
    },
    async (request, reply) => {
      const { todo_id: id, todo_title: title, todo_description: description } = request.body;
      const workflow = await stepwise.generations.fromTodo(principalOf(request).org_id, {
        id,
        title,
        description: description ?? null,
      });
      return reply.code(201).send(apiV1Workflow(workflow));
    },
  );
}
