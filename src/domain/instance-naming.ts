/**
 * Naming rules for assistant instances (document 001): which names are generic, how
 * similar a context is to a name, and a deterministic keyword namer used when no LLM is
 * configured (or it fails). Pure: no I/O, no clock.
 */

/** Below this similarity between a context and the current name, the instance is renamed. */
export const RENAME_SIMILARITY_THRESHOLD = 0.3;

/** Most words a generated name holds (the LLM is asked for at most this many too). */
export const MAX_NAME_WORDS = 6;

/** Most characters of a generated name, and of a name taken from an activity. */
export const MAX_NAME_CHARS = 60;

/** Most words the keyword namer keeps: fewer than the cap, so its names stay short. */
const KEYWORD_NAME_WORDS = 5;

/**
 * English function words, pronouns, filler adverbs ("actually", "maybe"), and the verbs
 * people use to state an intent ("we want to run…", "help me set up…"): they say nothing
 * about what a session is about.
 */
const STOP_WORDS = new Set(
  `a about above after again against all also am an and any are as at be because been before being
  below between both but by can could did do does doing done down during each either etc few for from
  further get gets getting go going got had has have having he her here hers herself him himself his
  how i if in into is it its itself just let lets like made make making me might more most must my
  myself need needs no nor not now of off on once only or other our ours ourselves out over own please
  really run running same set setting she should so some such than that the their theirs them
  themselves then there these they this those through to too try trying under until up us use using
  very want wants was we were what when where which while who whom why will with would you your yours
  yourself yourselves help helping start starting begin work working lets i'm we're let's actually
  basically instead maybe perhaps rather anyway okay ok`.split(/\s+/),
);

/** Words that, with numbers and punctuation, make up placeholder names. */
const GENERIC_WORDS = new Set(
  `assistant session sessions new instance chat conversation untitled unnamed default thread agent ai
  bot my the a an of empty blank general temp temporary draft noname none task workspace`.split(/\s+/),
);

interface Word {
  /** As written in the text. */
  text: string;
  /** Lower-cased, with a plural `s` folded (`campaigns` → `campaign`), for comparisons. */
  key: string;
  /** Written in capitals (`US`, `CRM`) or mixed case (`SaaS`, `iOS`): kept as written. */
  marked: boolean;
}

const WORD_PATTERN = /[\p{L}\p{N}][\p{L}\p{N}'’]*/gu;

function keyOf(lower: string): string {
  const bare = lower.replace(/['’]s$/, '');
  return bare.length > 3 && bare.endsWith('s') && !bare.endsWith('ss') ? bare.slice(0, -1) : bare;
}

/** Capitals after the first letter: an acronym (`US`, `CRM`) or a brand (`SaaS`, `iOS`). */
const isMarked = (text: string): boolean =>
  /\p{Lu}/u.test(text.slice(1)) || (text.length > 1 && /^\p{Lu}+$/u.test(text));

/**
 * The content words of `text`: word tokens minus stop words. An acronym whose lower case
 * is a stop word (`US`, `IT`) is kept.
 */
function contentWords(text: string): Word[] {
  const words: Word[] = [];
  for (const match of text.matchAll(WORD_PATTERN)) {
    const raw = match[0].replace(/['’]$/, '');
    const lower = raw.toLowerCase();
    const marked = isMarked(raw);
    if (STOP_WORDS.has(lower) && !(marked && /^\p{Lu}+$/u.test(raw))) continue;
    words.push({ text: raw, key: keyOf(lower), marked });
  }
  return words;
}

/**
 * Whether `name` is a placeholder rather than a description: made only of words such as
 * "Assistant", "Session", "New", "Instance", "Chat", "Untitled", plus numbers and
 * punctuation. An empty name is generic.
 *
 * @example
 * isGenericName('Assistant Session'); // true
 * isGenericName('Session 1');         // true
 * isGenericName('New Chat #3');       // true
 * isGenericName('Marketing Campaign Setup'); // false
 */
export function isGenericName(name: string): boolean {
  for (const match of name.matchAll(WORD_PATTERN)) {
    const lower = match[0].toLowerCase();
    if (/^\d+$/.test(lower) || GENERIC_WORDS.has(lower)) continue;
    return false;
  }
  return true;
}

/**
 * How close `a` is to `b`, from 0 (no content word shared) to 1 (the same content words
 * in the same proportions), rounded to 2 decimals.
 *
 * The measure is the cosine similarity of the two texts' term-frequency vectors, over
 * lower-cased word tokens minus English stop words, with a plural `s` folded. A text
 * without content words has similarity 0 to anything.
 *
 * @example
 * textSimilarity('Marketing campaign setup for spring', 'Marketing Campaign Setup'); // 0.87
 * textSimilarity('Fix the billing bug', 'Marketing Campaign Setup');                  // 0
 */
export function textSimilarity(a: string, b: string): number {
  const left = termCounts(a);
  const right = termCounts(b);
  if (left.size === 0 || right.size === 0) return 0;
  let dot = 0;
  for (const [term, count] of left) dot += count * (right.get(term) ?? 0);
  const norm = (counts: Map<string, number>): number =>
    Math.sqrt([...counts.values()].reduce((sum, count) => sum + count * count, 0));
  return Math.round((dot / (norm(left) * norm(right))) * 100) / 100;
}

function termCounts(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const word of contentWords(text)) counts.set(word.key, (counts.get(word.key) ?? 0) + 1);
  return counts;
}

/**
 * Whether a context calls for a new name: the current name is generic, or the context's
 * similarity to it is below {@link RENAME_SIMILARITY_THRESHOLD}.
 */
export function shouldRename(currentName: string, similarity: number): boolean {
  return isGenericName(currentName) || similarity < RENAME_SIMILARITY_THRESHOLD;
}

const titleCase = (word: Word): string =>
  word.marked ? word.text : word.text.charAt(0).toUpperCase() + word.text.slice(1).toLowerCase();

/**
 * A short Title Case name from the most salient words of `context`, deterministically.
 *
 * Each distinct content word scores its number of occurrences, plus 0.5 when it is written
 * as an acronym or brand (`US`, `SaaS`). The best {@link KEYWORD_NAME_WORDS} (ties: the
 * earlier word wins) are kept in the order they first appear, capped at
 * {@link MAX_NAME_CHARS} characters by dropping the least salient.
 *
 * @returns null when the context has no content words.
 * @example
 * keywordName('We want to run a SaaS lead gen campaign for the US market');
 * // 'SaaS Lead Gen Campaign US'
 */
export function keywordName(context: string): string | null {
  const candidates = new Map<string, { word: Word; position: number; score: number }>();
  contentWords(context).forEach((word, position) => {
    const seen = candidates.get(word.key);
    if (seen) seen.score += 1;
    else candidates.set(word.key, { word, position, score: 1 + (word.marked ? 0.5 : 0) });
  });
  const ranked = [...candidates.values()]
    .sort((a, b) => b.score - a.score || a.position - b.position)
    .slice(0, KEYWORD_NAME_WORDS);
  while (ranked.length > 0) {
    const name = [...ranked]
      .sort((a, b) => a.position - b.position)
      .map((candidate) => titleCase(candidate.word))
      .join(' ');
    if (name.length <= MAX_NAME_CHARS) return name;
    if (ranked.length === 1) return name.slice(0, MAX_NAME_CHARS);
    ranked.pop();
  }
  return null;
}

/**
 * Cleans a name an LLM suggested: the first line, without quotes, a "Name:" label, Markdown
 * or trailing punctuation, at most {@link MAX_NAME_WORDS} words and {@link MAX_NAME_CHARS}
 * characters.
 *
 * @returns null when nothing usable is left.
 */
export function cleanSuggestedName(reply: string): string | null {
  const line =
    reply
      .split(/\r?\n/)
      .map((part) => part.trim())
      .find((part) => part !== '') ?? '';
  const cleaned = line
    .replace(/^(?:[-*#>\s]+)/, '')
    .replace(/^(?:new\s+)?(?:name|title)\s*:\s*/i, '')
    .replace(/[*_`]+/g, '')
    .replace(/^["'“”‘’«»]+|["'“”‘’«»]+$/g, '')
    .replace(/[.!?,;:]+$/, '')
    .replace(/\s+/g, ' ')
    .trim();
  const words = cleaned.split(' ').filter(Boolean).slice(0, MAX_NAME_WORDS);
  const name = truncateName(words.join(' '));
  return name === '' ? null : name;
}

/**
 * `text` with whitespace collapsed, cut to `max` characters at a word boundary when one is
 * near (a single long word is cut mid-word).
 */
export function truncateName(text: string, max = MAX_NAME_CHARS): string {
  const collapsed = text.replace(/\s+/g, ' ').trim();
  if (collapsed.length <= max) return collapsed;
  const cut = collapsed.slice(0, max + 1);
  const space = cut.lastIndexOf(' ');
  return (space > max / 2 ? cut.slice(0, space) : collapsed.slice(0, max)).trim();
}
