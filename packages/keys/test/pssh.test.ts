import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  clearKeyPssh,
  parsePssh,
  playReadyHeader,
  playReadyKid,
  playReadyObject,
  playReadyPssh,
  SYSTEM_IDS,
  widevinePssh,
  widevinePsshData,
} from '@vigil/keys';

const KID = '0f083e4eb8314a3d917ece78076e54aa';
const KID2 = '041fdd3a7f5e4848a7cb65e97758e9a0';

/** Reads protobuf fields (varint and length-delimited only) as [field, value] pairs. */
function protobufFields(buf: Buffer): [number, Buffer | number][] {
  const fields: [number, Buffer | number][] = [];
  let o = 0;
  const varint = () => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = buf[o++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
      shift += 7;
    }
  };
  while (o < buf.length) {
    const tag = varint();
    const wire = tag & 7;
    if (wire === 0) fields.push([tag >>> 3, varint()]);
    else if (wire === 2) {
      const len = varint();
      fields.push([tag >>> 3, buf.subarray(o, o + len)]);
      o += len;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return fields;
}

describe('pssh boxes', () => {
  it('round-trips the common ClearKey box with its key ids', () => {
    const box = parsePssh(clearKeyPssh([KID, KID2]));
    assert.equal(box.version, 1);
    assert.equal(box.systemId, SYSTEM_IDS.clearKey);
    assert.deepEqual(box.kids, [KID, KID2]);
    assert.equal(box.data.length, 0);
  });

  it('writes WidevinePsshData: key_id (2), provider (3), content_id (4), protection_scheme (9)', () => {
    const data = widevinePsshData([KID, KID2], {
      provider: 'vigil',
      contentId: 'match-42',
      protectionScheme: 'cbcs',
    });
    assert.deepEqual(protobufFields(data), [
      [2, Buffer.from(KID, 'hex')],
      [2, Buffer.from(KID2, 'hex')],
      [3, Buffer.from('vigil')],
      [4, Buffer.from('match-42')],
      [9, 0x63626373],
    ]);
    const box = parsePssh(widevinePssh([KID], { protectionScheme: 'cenc' }));
    assert.equal(box.systemId, SYSTEM_IDS.widevine);
    assert.equal(box.version, 0);
    assert.deepEqual(box.kids, []);
    assert.deepEqual(protobufFields(box.data), [
      [2, Buffer.from(KID, 'hex')],
      [9, 0x63656e63],
    ]);
    assert.deepEqual(parsePssh(widevinePssh([KID], { version: 1 })).kids, [KID]);
  });

  it('writes KIDs for PlayReady as base64 of the little-endian GUID', () => {
    // 0f083e4e-b831-4a3d-917e-ce78076e54aa: the first three fields byte-swapped.
    assert.equal(
      playReadyKid(KID),
      Buffer.from('4e3e080f31b83d4a917ece78076e54aa', 'hex').toString('base64'),
    );
  });

  it('builds a PlayReady Object holding a WRMHEADER 4.3.0.0 in UTF-16LE', () => {
    const pro = playReadyObject([KID], { laUrl: 'https://lic.example/pr?a=1&b=2', protectionScheme: 'cbcs' });
    assert.equal(pro.readUInt32LE(0), pro.length);
    assert.equal(pro.readUInt16LE(4), 1);
    assert.equal(pro.readUInt16LE(6), 1);
    const len = pro.readUInt16LE(8);
    assert.equal(10 + len, pro.length);
    const xml = pro.subarray(10).toString('utf16le');
    assert.equal(
      xml,
      playReadyHeader([KID], { laUrl: 'https://lic.example/pr?a=1&b=2', protectionScheme: 'cbcs' }),
    );
    assert.match(
      xml,
      /^<WRMHEADER xmlns="http:\/\/schemas\.microsoft\.com\/DRM\/2007\/03\/PlayReadyHeader" version="4\.3\.0\.0">/,
    );
    assert.ok(xml.includes(`<KID ALGID="AESCBC" VALUE="${playReadyKid(KID)}"></KID>`));
    assert.ok(xml.includes('<LA_URL>https://lic.example/pr?a=1&amp;b=2</LA_URL>'));
    assert.ok(playReadyHeader([KID]).includes('ALGID="AESCTR"'));
    assert.ok(!playReadyHeader([KID]).includes('LA_URL'));
  });

  it('wraps the PlayReady Object in a pssh box listing the kids', () => {
    const box = parsePssh(playReadyPssh([KID, KID2]));
    assert.equal(box.systemId, SYSTEM_IDS.playReady);
    assert.equal(box.version, 1);
    assert.deepEqual(box.kids, [KID, KID2]);
    assert.deepEqual(box.data, playReadyObject([KID, KID2]));
    assert.equal(parsePssh(playReadyPssh([KID], { version: 0 })).kids.length, 0);
  });

  it('refuses malformed boxes and key ids', () => {
    assert.throws(() => parsePssh(Buffer.alloc(10)), /truncated/);
    const box = clearKeyPssh([KID]);
    box.writeUInt32BE(box.length + 1, 0);
    assert.throws(() => parsePssh(box), /size/);
    assert.throws(() => widevinePssh(['xyz']), /hex key id/);
    assert.throws(() => playReadyObject([]), /at least one/);
  });
});
