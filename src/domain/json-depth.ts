/** How deeply a request body may nest objects and arrays: far beyond any workflow, far below a stack's reach. */
export const MAX_JSON_DEPTH = 64;

const OPEN_OBJECT = 0x7b; // {
const OPEN_ARRAY = 0x5b; // [
const CLOSE_OBJECT = 0x7d; // }
const CLOSE_ARRAY = 0x5d; // ]
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/**
 * Whether JSON text nests objects and arrays more than `limit` deep (`{}` is 1 deep,
 * `[{}]` 2), read from the text before it is parsed: recursive code downstream (schema
 * validation, the stores' normalisation, the MCP SDK) overflows its stack on values JSON.parse
 * builds without complaint. Brackets inside strings do not count. Malformed text is
 * judged only as far as its brackets go; the parser refuses it afterwards.
 * @example exceedsJsonDepth('[[1]]', 1) // true
 */
export function exceedsJsonDepth(text: string, limit = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === BACKSLASH) i++;
      else if (code === QUOTE) inString = false;
    } else if (code === QUOTE) {
      inString = true;
    } else if (code === OPEN_OBJECT || code === OPEN_ARRAY) {
      if (++depth > limit) return true;
    } else if (code === CLOSE_OBJECT || code === CLOSE_ARRAY) {
      depth--;
    }
  }
  return false;
}
