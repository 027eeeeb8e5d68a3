import { DEFAULT_PAGE_LIMIT, MAX_CURSOR_LENGTH, MAX_PAGE_LIMIT, type PageRequest } from '@vigil/store';

/**
 * The query parameters of every paginated list (spread into its querystring schema's properties). A
 * refused `limit` or `cursor` answers 400 `invalid_limit` / `invalid_cursor` (errors.ts).
 */
export const pageParams = {
  limit: {
    type: 'integer',
    minimum: 1,
    maximum: MAX_PAGE_LIMIT,
    default: DEFAULT_PAGE_LIMIT,
    description: `Items per page (1 to ${MAX_PAGE_LIMIT}, default ${DEFAULT_PAGE_LIMIT})`,
  },
  cursor: {
    type: 'string',
    minLength: 1,
    maxLength: MAX_CURSOR_LENGTH,
    pattern: '^[A-Za-z0-9_-]+$',
    description: 'The `next` of the previous page (opaque); none for the first page',
  },
} as const;

/** The `next` property of every paginated answer. */
export const nextSchema = {
  type: ['string', 'null'],
  description: 'Cursor of the next page (pass it as `cursor`); null on the last page',
} as const;

/** The querystring of a list that takes nothing but paging. */
export const pageQuery = { type: 'object', properties: pageParams } as const;

/** The answer schema of a paginated list: `{ <name>: [items], next }`. */
export function pageAnswer(name: string, items: object) {
  return { 200: { type: 'object', properties: { [name]: { type: 'array', items }, next: nextSchema } } };
}

export function pageRequest(query: unknown): PageRequest {
  const q = (query ?? {}) as { limit?: number; cursor?: string };
  return { limit: q.limit, cursor: q.cursor };
}

/** The schema parts of a list that takes nothing but paging: its querystring and its answer. */
export function pageSchema(name: string, items: object) {
  return { querystring: pageQuery, response: pageAnswer(name, items) };
}
