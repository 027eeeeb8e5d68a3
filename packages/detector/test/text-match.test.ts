/**
 * Text mode's matching rules on OCR readings (no video): what a reading votes for, and when the votes
 * of several frames name a session — never for an id that differs from what was read.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Ballot, falseMatchEstimate, fold, prepareCandidates, voteOf } from '../src/text/match.ts';

const IDS = ['viewer-7c4e91b2', 'viewer-03f8d6aa', 'sess-11b4d0e7'];

function tally(readings: string[], ids: readonly string[]) {
  const candidates = prepareCandidates(ids);
  const ballot = new Ballot();
  readings.forEach((text, i) => {
    const vote = voteOf(text, candidates);
    if (vote) ballot.add(i / 2, vote);
    ballot.observe(i / 2, text, candidates);
  });
  const standing = ballot.standing();
  return { ...standing, id: standing.leader ? candidates[standing.leader.candidate]!.id : undefined };
}

describe('text mode matching', () => {
  test('OCR confusions fold together; case and spaces do not count', () => {
    assert.equal(fold('ViEWER-7C4E9IB2'), fold('viewer-7c4e91b2'));
    assert.equal(fold('SESS_0O1l'), fold('5ess-0011'));
    assert.equal(fold('sess 7f3a'), fold('sess7f3a'));
  });

  test('a reading votes for the one close candidate, ignoring words of background beside it', () => {
    const candidates = prepareCandidates(IDS);
    assert.equal(candidates[voteOf('HITE viewer-7c4e9lb2', candidates)!.candidate]!.id, 'viewer-7c4e91b2');
    assert.equal(voteOf('00:00:03.367', candidates), undefined);
    assert.equal(voteOf('viewer', candidates), undefined);
  });

  test('two candidates alike after folding get no vote', () => {
    const candidates = prepareCandidates(['user-1O5', 'user-l05', 'other-aaaa']);
    assert.equal(voteOf('user-105', candidates), undefined);
  });

  test('readings with scattered errors in several frames name the session', () => {
    const r = tally(['viewer-7c4e91b2', 'vlewer-7c4e9lb2', 'viewer-7e4e91b2', 'viewer-7c4891b2'], IDS);
    assert.equal(r.accepted, true, r.why);
    assert.equal(r.id, 'viewer-7c4e91b2');
  });

  test('fewer than three frames are not enough', () => {
    const r = tally(['viewer-7c4e91b2', 'viewer-7c4e91b2'], IDS);
    assert.equal(r.accepted, false);
    assert.match(r.why, /fewer than 3/);
  });

  test('an id one character off what was read is refused, however often', () => {
    const reads = Array.from({ length: 10 }, () => 'viewer-7c4e91b2');
    const r = tally(reads, ['viewer-7c4e91b3', 'sess-11b4d0e7']);
    assert.equal(r.accepted, false);
    assert.match(r.why, /differs from what was read at character 15/);
  });

  test('a character OCR reads in several confused ways is the candidate, one read the same other way is not', () => {
    // A small bold 4 comes out as d, 3 or 4.
    const hard = ['7cde', '7c3e', '7c4e', '7cde', '7c4e', '7cde', '7c3e', '7cde'].map(
      (s) => `viewer-${s}91b2`,
    );
    const r = tally(hard, IDS);
    assert.equal(r.accepted, true, r.why);
    assert.equal(r.id, 'viewer-7c4e91b2');
    // The mark says 4 (read so six times): an id with d there is refused, d being a confusion of 4.
    const clear = ['7c4e', '7c4e', '7cde', '7c4e', '7c4e', '7cde', '7c4e', '7c4e'].map(
      (s) => `viewer-${s}91b2`,
    );
    const near = tally(clear, ['viewer-7cde91b2', 'sess-11b4d0e7']);
    assert.equal(near.accepted, false);
    assert.match(near.why, /differs from what was read at character 10/);
  });

  test('an id that the read one extends is refused', () => {
    const reads = [
      'viewer-7c4e91b2',
      'viewer-7c4e91b 2',
      'viewer-7c4e91b2',
      'viewer-7c4e91b',
      'viewer-7c4e91b2',
    ];
    const r = tally(reads, ['viewer-7c4e91b', 'sess-11b4d0e7']);
    assert.equal(r.accepted, false);
    assert.match(r.why, /continues beyond/);
  });

  test('short ids are never matched', () => {
    const r = tally(['v-12', 'v-12', 'v-12', 'v-12'], ['v-12', 'v-13']);
    assert.equal(r.accepted, false);
  });

  test('the false-match estimate grows with the edits allowed and the candidates', () => {
    const few = prepareCandidates(IDS);
    const many = prepareCandidates(
      Array.from({ length: 1000 }, (_, i) => `viewer-${String(i).padStart(8, '0')}`),
    );
    assert.ok(falseMatchEstimate(few, 15, 0) < falseMatchEstimate(few, 15, 2));
    assert.ok(falseMatchEstimate(few, 15, 2) < falseMatchEstimate(many, 15, 2));
    assert.ok(falseMatchEstimate(many, 15, 3) < 1e-6);
  });
});
