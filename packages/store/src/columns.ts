/**
 * Row mapping by naming rule, for records that are their rows field for field: a column `source_sha256`
 * is the field `sourceSha256`; numeric columns arrive as numbers (PostgreSQL's BIGINT comes as a string)
 * and JSON columns parsed, null staying null either way.
 */

/** Which columns of a row are numbers and which hold JSON text; the others are taken as they are. */
export interface ColumnTypes {
  readonly numbers?: readonly string[];
  readonly json?: readonly string[];
}

const camel = (column: string) => column.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const snake = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The record of a row: each column under its camelCase name, numbers and JSON converted. */
export function recordOf<R>(row: object, types: ColumnTypes): R {
  const out: Record<string, unknown> = {};
  for (const [column, v] of Object.entries(row)) {
    const value =
      v === null || v === undefined
        ? v
        : types.numbers?.includes(column)
          ? Number(v)
          : types.json?.includes(column)
            ? JSON.parse(v as string)
            : v;
    out[camel(column)] = value;
  }
  return out as R;
}

/** The row of a record: each field under its snake_case column, JSON columns as text. */
export function rowOf<Row>(record: object, types: ColumnTypes): Row {
  const out: Record<string, unknown> = {};
  for (const [field, v] of Object.entries(record)) {
    const column = snake(field);
    out[column] = v !== null && types.json?.includes(column) ? JSON.stringify(v) : v;
  }
  return out as Row;
}
