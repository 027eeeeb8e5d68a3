/** OpenAPI schema fragments shared by the route files. */

/** The body of every refusal: `{ statusCode, code, message }`. */
export const errorSchema = {
  type: 'object',
  properties: { statusCode: { type: 'integer' }, code: { type: 'string' }, message: { type: 'string' } },
};

export const stringSchema = { type: 'string' };
export const dateTimeSchema = { type: 'string', format: 'date-time' };
export const nullableDateTimeSchema = { type: ['string', 'null'], format: 'date-time' };

/** An object schema with these properties. */
export function objectSchema(properties: Record<string, object>) {
  return { type: 'object', properties };
}
