import { describe, expect, it } from 'vitest';
import {
  cleanSuggestedName,
  isGenericName,
  keywordName,
  MAX_NAME_CHARS,
  RENAME_SIMILARITY_THRESHOLD,
  shouldRename,
  textSimilarity,
  truncateName,
} from './instance-naming.js';

describe('isGenericName', () => {
  it.each([
    'Assistant Session',
    'New Instance',
    'New Chat',
    'Untitled',
    'Session 1',
    'new chat #3',
    'AI Assistant',
    'Untitled session (2)',
    '',
    '   ',
  ])('%j is generic', (name) => {
    expect(isGenericName(name)).toBe(true);
  });

  it.each(['Marketing Campaign Setup', 'New Marketing Chat', 'Session on billing', 'SaaS Lead Gen'])(
    '%j is not generic',
    (name) => {
      expect(isGenericName(name)).toBe(false);
    },
  );
});

describe('textSimilarity', () => {
  it('is 1 for the same content words, whatever the case, stop words and plurals', () => {
    expect(textSimilarity('Marketing Campaigns', 'the marketing campaign')).toBe(1);
  });

  it('is 0 when no content word is shared, or a side has none', () => {
    expect(textSimilarity('Fix the billing bug', 'Marketing Campaign Setup')).toBe(0);
    expect(textSimilarity('we want to do it', 'Marketing')).toBe(0);
    expect(textSimilarity('', '')).toBe(0);
  });

  it('is the cosine of term counts, rounded to 2 decimals', () => {
    // {marketing, campaign, setup, spring} · {marketing, campaign, setup} = 3 / (2 · √3)
    expect(textSimilarity('Marketing campaign setup for spring', 'Marketing Campaign Setup')).toBe(0.87);
    // {lead:2, gen:1} · {lead:1} = 2 / √5
    expect(textSimilarity('lead gen leads', 'Lead')).toBe(0.89);
  });

  it('is symmetric and within 0..1', () => {
    const pairs: [string, string][] = [
      ['SaaS lead gen campaign for the US market', 'Assistant Session'],
      ['Plan the Q3 offsite in Lisbon', 'Offsite planning'],
    ];
    for (const [a, b] of pairs) {
      const value = textSimilarity(a, b);
      expect(value).toBe(textSimilarity(b, a));
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThanOrEqual(1);
    }
  });
});

describe('shouldRename', () => {
  it('renames a generic name whatever the similarity, and a specific one below the threshold', () => {
    expect(RENAME_SIMILARITY_THRESHOLD).toBe(0.3);
    expect(shouldRename('Assistant Session', 1)).toBe(true);
    expect(shouldRename('Marketing Campaign Setup', 0.29)).toBe(true);
    expect(shouldRename('Marketing Campaign Setup', 0.3)).toBe(false);
  });
});

describe('keywordName', () => {
  it("names document 001's example context", () => {
    expect(keywordName('We want to run a SaaS lead gen campaign for the US market')).toBe(
      'SaaS Lead Gen Campaign US',
    );
  });

  it('prefers repeated words, keeps their first order, and Title-Cases plain words', () => {
    expect(
      keywordName('I need help with invoices: the invoices for March are wrong, and invoices for April too'),
    ).toBe('Invoices March Wrong April');
  });

  it('keeps acronyms and brands as written, drops the pronoun "us"', () => {
    expect(keywordName('help us migrate our CRM to HubSpot')).toBe('Migrate CRM HubSpot');
  });

  it('is deterministic and caps words and characters', () => {
    const context =
      'extraordinarily complicated internationalization requirements documentation reorganization responsibilities';
    const name = keywordName(context);
    expect(name).toBe(keywordName(context));
    expect(name!.length).toBeLessThanOrEqual(MAX_NAME_CHARS);
    expect(name!.split(' ').length).toBeLessThanOrEqual(5);
    expect(keywordName('a'.repeat(200))).toBe('A'.padEnd(MAX_NAME_CHARS, 'a'));
  });

  it('gives null when the context has no content words', () => {
    expect(keywordName('we want to do it')).toBeNull();
    expect(keywordName('   ')).toBeNull();
  });
});

describe('cleanSuggestedName', () => {
  it('takes the first line without quotes, labels, Markdown or trailing punctuation', () => {
    expect(cleanSuggestedName('"SaaS Lead Gen Campaign - US"')).toBe('SaaS Lead Gen Campaign - US');
    expect(cleanSuggestedName('Name: **Quarterly Report Review.**\nBecause…')).toBe(
      'Quarterly Report Review',
    );
    expect(cleanSuggestedName('\n\n  “Trip to Lisbon”  ')).toBe('Trip to Lisbon');
  });

  it('keeps at most 6 words and gives null for nothing usable', () => {
    expect(cleanSuggestedName('one two three four five six seven eight')).toBe('one two three four five six');
    expect(cleanSuggestedName('  \n ')).toBeNull();
    expect(cleanSuggestedName('"".')).toBeNull();
  });
});

describe('truncateName', () => {
  it('collapses whitespace and cuts at a word boundary', () => {
    expect(truncateName('  Marketing   Campaign Setup ')).toBe('Marketing Campaign Setup');
    const long = 'word '.repeat(30);
    const cut = truncateName(long);
    expect(cut.length).toBeLessThanOrEqual(60);
    expect(cut.endsWith('word')).toBe(true);
  });
});
