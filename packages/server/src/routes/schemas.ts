/** OpenAPI schema fragments shared by the route files. */

/** The body of every refusal: `{ statusCode, code, message }`. */
export const errorSchema = {
  type: 'object',
  properties: { statusCode: { type: 'integer' }, code: { type: 'string' }, message: { type: 'string' } },
};
