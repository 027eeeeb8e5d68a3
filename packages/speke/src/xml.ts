import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { CpixError } from './errors.ts';

/** Bounds on what the SPEKE endpoint parses at all. */
export interface XmlLimits {
  /** Largest document, in UTF-8 bytes. */
  maxBytes: number;
  /** Deepest element nesting (the root is depth 1). */
  maxDepth: number;
  /** Most elements in one document. */
  maxElements: number;
}

export const DEFAULT_XML_LIMITS: XmlLimits = { maxBytes: 256 * 1024, maxDepth: 32, maxElements: 20_000 };

/** The `xml:` prefix is bound by definition; every other prefix must be declared. */
const XML_NS = 'http://www.w3.org/XML/1998/namespace';

/** An element with its name resolved against the in-scope namespace declarations. */
export interface XmlElement {
  /** Namespace URI ('' for none). */
  ns: string;
  /** Local name, without prefix. */
  name: string;
  /** The name as written, with its prefix. */
  qname: string;
  /** Namespace declarations made on this element, by prefix ('' for the default namespace). */
  declares: ReadonlyMap<string, string>;
  /** Attributes by name as written (namespace declarations left out), values entity-decoded. */
  attrs: ReadonlyMap<string, string>;
  children: XmlElement[];
  /** Concatenated character data directly inside the element, entity-decoded and trimmed. */
  text: string;
}

const parserOptions = {
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  allowBooleanAttributes: false,
  parseTagValue: false,
  parseAttributeValue: false,
  // No entity is ever expanded by the library: DTDs are refused before parsing and the five predefined
  // entities and character references are decoded below, by a decoder that knows nothing else.
  processEntities: false,
  htmlEntities: false,
  trimValues: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  cdataPropName: '#cdata',
  commentPropName: false,
  removeNSPrefix: false,
} as const;
const parsers = new Map<number, XMLParser>();

/** The parser stops at its own nesting bound, a little past ours, so a depth bomb costs nothing. */
function parserFor(maxDepth: number): XMLParser {
  let parser = parsers.get(maxDepth);
  if (!parser) {
    parser = new XMLParser({ ...parserOptions, maxNestedTags: maxDepth + 1 });
    parsers.set(maxDepth, parser);
  }
  return parser;
}

const PREDEFINED = new Map([
  ['lt', '<'],
  ['gt', '>'],
  ['amp', '&'],
  ['quot', '"'],
  ['apos', "'"],
]);

/** Decodes the predefined entities and character references; any other `&name;` is refused. */
export function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&([^;&\s]{0,32});?/g, (match, body: string) => {
    if (!match.endsWith(';')) throw new CpixError(400, 'xml_malformed', 'a bare "&" must be written &amp;');
    const named = PREDEFINED.get(body);
    if (named !== undefined) return named;
    const num = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(body);
    if (num) {
      const cp = num[1] !== undefined ? Number.parseInt(num[1], 16) : Number.parseInt(num[2]!, 10);
      const allowed =
        cp === 0x9 ||
        cp === 0xa ||
        cp === 0xd ||
        (cp >= 0x20 && cp <= 0xd7ff) ||
        (cp >= 0xe000 && cp <= 0xfffd) ||
        (cp >= 0x10000 && cp <= 0x10ffff);
      if (!allowed)
        throw new CpixError(400, 'xml_malformed', `character reference ${match} is not an XML character`);
      return String.fromCodePoint(cp);
    }
    throw new CpixError(
      400,
      'xml_entity_forbidden',
      `entity reference ${match} is not allowed: only the predefined XML entities are`,
    );
  });
}

/**
 * Parses an untrusted XML document into a namespace-resolved element tree, refusing anything beyond plain
 * elements, attributes and text: no DTD (so no entity declarations, external entities or entity expansion),
 * no processing of undeclared prefixes, and bounded size, depth and element count.
 */
export function parseXml(input: string, limits: XmlLimits = DEFAULT_XML_LIMITS): XmlElement {
  const bytes = Buffer.byteLength(input, 'utf8');
  if (bytes > limits.maxBytes) {
    throw new CpixError(
      413,
      'body_too_large',
      `the document is ${bytes} bytes; at most ${limits.maxBytes} are accepted`,
    );
  }
  const xml = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  if (xml.trim() === '') throw new CpixError(400, 'xml_malformed', 'the request body is empty');
  if (xml.includes('\u0000'))
    throw new CpixError(400, 'xml_malformed', 'the document contains NUL characters');
  if (/<!\s*(DOCTYPE|ENTITY)/i.test(xml)) {
    throw new CpixError(
      400,
      'xml_dtd_forbidden',
      'DOCTYPE and ENTITY declarations are not allowed (no DTDs, no entities)',
    );
  }
  if (/<!(?!--|\[CDATA\[)/.test(xml)) {
    throw new CpixError(400, 'xml_dtd_forbidden', 'markup declarations (<!...>) are not allowed');
  }
  const decl = /^\s*<\?xml\s([^?]*)\?>/.exec(xml);
  const encoding = decl && /encoding\s*=\s*["']([^"']*)["']/.exec(decl[1]!)?.[1];
  if (encoding && !/^utf-?8$/i.test(encoding)) {
    throw new CpixError(400, 'xml_encoding', `the document must be UTF-8, not ${encoding}`);
  }

  const valid = XMLValidator.validate(xml, { allowBooleanAttributes: false });
  if (valid !== true) {
    const { msg, line, col } = valid.err;
    throw new CpixError(
      400,
      'xml_malformed',
      `the document is not well-formed XML: ${msg} (line ${line}, column ${col})`,
    );
  }
  let nodes: OrderedNode[];
  try {
    nodes = parserFor(limits.maxDepth).parse(xml) as OrderedNode[];
  } catch (err) {
    const message = (err as Error).message;
    if (/nested tags/i.test(message)) throw tooDeep(limits);
    throw new CpixError(400, 'xml_malformed', `the document is not well-formed XML: ${message}`);
  }
  const roots = nodes.filter((n) => elementName(n) !== undefined);
  if (roots.length !== 1) {
    throw new CpixError(400, 'xml_malformed', `the document must have one root element, not ${roots.length}`);
  }
  const budget = { elements: 0 };
  return convert(roots[0]!, new Map([['xml', XML_NS]]), 1, limits, budget);
}

const tooDeep = (limits: XmlLimits) =>
  new CpixError(400, 'xml_too_deep', `elements are nested deeper than ${limits.maxDepth} levels`);

/** fast-xml-parser's ordered form: `{ [tagName]: children, ':@'?: attributes }` or `{ '#text': string }`. */
type OrderedNode = Record<string, unknown>;

function elementName(node: OrderedNode): string | undefined {
  for (const key of Object.keys(node)) {
    if (key !== ':@' && key !== '#text' && key !== '#cdata' && !key.startsWith('?')) return key;
  }
  return undefined;
}

function resolve(qname: string, scope: ReadonlyMap<string, string>): { ns: string; name: string } {
  const colon = qname.indexOf(':');
  if (colon < 0) return { ns: scope.get('') ?? '', name: qname };
  const prefix = qname.slice(0, colon);
  const name = qname.slice(colon + 1);
  const ns = scope.get(prefix);
  if (ns === undefined || name === '' || name.includes(':')) {
    throw new CpixError(400, 'xml_namespace', `namespace prefix "${prefix}" of <${qname}> is not declared`);
  }
  return { ns, name };
}

function convert(
  node: OrderedNode,
  parentScope: ReadonlyMap<string, string>,
  depth: number,
  limits: XmlLimits,
  budget: { elements: number },
): XmlElement {
  if (depth > limits.maxDepth) throw tooDeep(limits);
  if (++budget.elements > limits.maxElements) {
    throw new CpixError(400, 'xml_too_large', `the document has more than ${limits.maxElements} elements`);
  }
  const qname = elementName(node)!;
  const rawAttrs = (node[':@'] ?? {}) as Record<string, unknown>;
  let scope = parentScope;
  const attrs = new Map<string, string>();
  const declares = new Map<string, string>();
  for (const [key, raw] of Object.entries(rawAttrs)) {
    const value = decodeEntities(String(raw));
    if (key === 'xmlns' || key.startsWith('xmlns:')) {
      if (scope === parentScope) scope = new Map(parentScope);
      const prefix = key === 'xmlns' ? '' : key.slice(6);
      if (prefix === 'xml' || prefix === 'xmlns') {
        throw new CpixError(400, 'xml_namespace', `the prefix "${prefix}" cannot be redeclared`);
      }
      if (prefix !== '' && value === '') {
        throw new CpixError(400, 'xml_namespace', `the prefix "${prefix}" cannot be bound to no namespace`);
      }
      (scope as Map<string, string>).set(prefix, value);
      declares.set(prefix, value);
    } else {
      attrs.set(key, value);
    }
  }
  for (const key of attrs.keys()) if (key.includes(':')) resolve(key, scope);
  const { ns, name } = resolve(qname, scope);
  const children: XmlElement[] = [];
  let text = '';
  for (const child of (node[qname] ?? []) as OrderedNode[]) {
    if ('#text' in child) text += decodeEntities(String(child['#text']));
    else if ('#cdata' in child) {
      for (const part of child['#cdata'] as OrderedNode[]) text += String(part['#text'] ?? '');
    } else if (elementName(child) !== undefined) {
      children.push(convert(child, scope, depth + 1, limits, budget));
    }
  }
  return { ns, name, qname, declares, attrs, children, text: text.trim() };
}
