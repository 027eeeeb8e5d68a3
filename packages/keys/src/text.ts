/**
 * The text forms that key ids and key-system data take in manifests, CPIX and key-system headers: the one
 * KID/UUID formatter and the one XML escaper of the project.
 */

/** 32 hex digits (a KID or a system id) as a UUID: 8-4-4-4-12, lower case as given. */
export function hexToUuid(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const XML_ENTITIES: Record<string, string> = {
  '<': '&lt;',
  '>': '&gt;',
  '&': '&amp;',
  '"': '&quot;',
  "'": '&apos;',
};

/** Escapes text for an XML attribute value (either quote) or element content. */
export function xmlEscape(s: string): string {
  return s.replace(/[<>&"']/g, (c) => XML_ENTITIES[c]!);
}
