import {
  type Actor,
  ControlError,
  createOperator,
  listOperators,
  OPERATOR_NAME,
  removeOperator,
  setOperatorPassword,
  TENANT_ID_PATTERN,
} from '@vigil/control';
import type { Role } from '@vigil/store';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireRole } from '../../auth/admin.ts';
import { dateTimeSchema, objectSchema, stringSchema } from '../schemas.ts';
import type { AdminContext } from './shared.ts';

/** Who calls: the console's signed-in operator, or the API key. */
export function actorOf(request: FastifyRequest): Actor {
  const op = request.consoleOperator;
  if (op) return { kind: 'operator', id: op.name, tenantId: op.tenantId, role: op.role };
  const key = request.apiKey;
  return { kind: 'api-key', id: key.prefix, tenantId: key.tenantId, role: key.role };
}

/** Runs a control operation, answering its ControlError as `{statusCode, code, message}`. */
async function control<T>(reply: FastifyReply, run: () => Promise<T>): Promise<T | FastifyReply> {
  try {
    return await run();
  } catch (err) {
    if (!(err instanceof ControlError)) throw err;
    return reply
      .code(err.status)
      .send({ statusCode: err.status, code: err.code, message: err.message, ...err.detail });
  }
}

/** An API key, or the console's session cookie (with X-CSRF-Token on changes). */
const security: Array<Record<string, string[]>> = [{ apiKey: [] }, { consoleSession: [] }];

const operatorSchema = objectSchema({
  name: stringSchema,
  role: stringSchema,
  tenantId: stringSchema,
  createdAt: dateTimeSchema,
  passwordChangedAt: dateTimeSchema,
});
const tenantQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    tenant: {
      type: 'string',
      pattern: TENANT_ID_PATTERN,
      description: 'Another tenant (platform role only)',
    },
  },
};
const nameParams = {
  type: 'object',
  properties: { name: { type: 'string', pattern: OPERATOR_NAME } },
};
const password = { type: 'string', minLength: 1, maxLength: 1024 };

/** Console operator accounts of the caller's tenant (admin role; a platform caller may name another). */
export function operatorsRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { store } = ctx;
  const deps = { store };
  // Any signed-in caller gets as far as the operation, which checks the role (admin, or oneself).
  const admitted = requireRole(ctx.hot, 'readonly');
  type Query = { tenant?: string };

  app.get(
    '/v1/operators',
    {
      preHandler: admitted,
      schema: {
        tags: ['console'],
        summary: 'Console operators of this tenant (oldest first)',
        security,
        querystring: tenantQuery,
        response: {
          200: { type: 'object', properties: { operators: { type: 'array', items: operatorSchema } } },
        },
      },
    },
    (request, reply) =>
      control(reply, async () => ({
        operators: await listOperators(deps, actorOf(request), { tenant: (request.query as Query).tenant }),
      })),
  );

  app.post(
    '/v1/operators',
    {
      preHandler: admitted,
      schema: {
        tags: ['console'],
        summary:
          'Create a console operator (password at least 12 characters: 400 weak_password; 409 operator_exists)',
        security,
        querystring: tenantQuery,
        body: {
          type: 'object',
          required: ['name', 'role', 'password'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 64 },
            role: { type: 'string', enum: ['readonly', 'operator', 'admin', 'platform'] },
            password,
            tenant: {
              type: 'string',
              pattern: TENANT_ID_PATTERN,
              description: 'Another tenant (platform role only)',
            },
          },
        },
        response: { 201: operatorSchema },
      },
    },
    (request, reply) =>
      control(reply, async () => {
        const body = request.body as { name: string; role: Role; password: string; tenant?: string };
        const created = await createOperator(deps, actorOf(request), {
          ...body,
          tenant: body.tenant ?? (request.query as Query).tenant,
        });
        return reply.code(201).send(created);
      }),
  );

  app.delete(
    '/v1/operators/:name',
    {
      preHandler: admitted,
      schema: {
        tags: ['console'],
        summary: 'Remove a console operator; their sessions end at once',
        security,
        params: nameParams,
        querystring: tenantQuery,
      },
    },
    (request, reply) =>
      control(reply, async () => {
        await removeOperator(deps, actorOf(request), {
          name: (request.params as { name: string }).name,
          tenant: (request.query as Query).tenant,
        });
        return reply.code(204).send();
      }),
  );

  app.put(
    '/v1/operators/:name/password',
    {
      // Any operator may change their own; the operation requires admin for anyone else's.
      preHandler: admitted,
      schema: {
        tags: ['console'],
        summary:
          "Set an operator's password (their own: any role; anyone's: admin). Their other sessions end",
        security,
        params: nameParams,
        querystring: tenantQuery,
        body: {
          type: 'object',
          required: ['password'],
          additionalProperties: false,
          properties: { password },
        },
      },
    },
    (request, reply) =>
      control(reply, async () => {
        await setOperatorPassword(deps, actorOf(request), {
          name: (request.params as { name: string }).name,
          tenant: (request.query as Query).tenant,
          password: (request.body as { password: string }).password,
          keepSession: request.consoleOperator?.sessionHash,
        });
        return reply.code(204).send();
      }),
  );
}
