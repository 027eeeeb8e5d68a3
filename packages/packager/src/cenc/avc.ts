/**
 * Just enough H.264 (ISO/IEC 14496-10) parsing to find where each slice header ends, so that subsample
 * encryption can leave it in the clear (ISO/IEC 23001-7 §9.5, §10): the sequence and picture parameter
 * set fields the slice header depends on, and the slice header itself (§7.3.3), read bit by bit over
 * the escaped NAL bytes (emulation prevention bytes are skipped but counted).
 */

export interface Sps {
  id: number;
  chromaArrayType: number;
  separateColourPlane: boolean;
  log2MaxFrameNum: number;
  pocType: number;
  log2MaxPocLsb: number;
  deltaPicOrderAlwaysZero: boolean;
  frameMbsOnly: boolean;
  picSizeInMapUnits: number;
}

export interface Pps {
  id: number;
  spsId: number;
  entropyCodingMode: boolean;
  bottomFieldPicOrderInFramePresent: boolean;
  numSliceGroupsMinus1: number;
  sliceGroupMapType: number;
  sliceGroupChangeRate: number;
  numRefIdxL0DefaultActive: number;
  numRefIdxL1DefaultActive: number;
  weightedPred: boolean;
  weightedBipredIdc: number;
  deblockingFilterControlPresent: boolean;
  redundantPicCntPresent: boolean;
}

/** Parameter sets by id; in-band SPS/PPS (avc3) update them as they are met. */
export interface AvcParams {
  sps: Map<number, Sps>;
  pps: Map<number, Pps>;
}

/** Reads bits from an escaped NAL unit payload, dropping emulation prevention bytes (0x000003). */
export class NalBitReader {
  private pos: number;
  private zeros = 0;
  private cur = 0;
  private bits = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly start: number,
    private readonly end: number,
  ) {
    this.pos = start;
  }

  private load(): void {
    if (this.pos >= this.end) throw new Error('H.264 syntax runs past the end of the NAL unit');
    let b = this.buf[this.pos++]!;
    if (this.zeros >= 2 && b === 3) {
      if (this.pos >= this.end) throw new Error('H.264 syntax runs past the end of the NAL unit');
      b = this.buf[this.pos++]!;
      this.zeros = 0;
    }
    this.zeros = b === 0 ? this.zeros + 1 : 0;
    this.cur = b;
    this.bits = 8;
  }

  u1(): number {
    if (this.bits === 0) this.load();
    this.bits--;
    return (this.cur >> this.bits) & 1;
  }

  flag(): boolean {
    return this.u1() === 1;
  }

  u(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.u1();
    return v;
  }

  ue(): number {
    let zeros = 0;
    while (this.u1() === 0) {
      if (++zeros > 31) throw new Error('invalid Exp-Golomb code in H.264 syntax');
    }
    return 2 ** zeros - 1 + this.u(zeros);
  }

  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }

  /** Escaped bytes consumed so far, including the partly read current byte. */
  get consumed(): number {
    return this.pos - this.start;
  }
}

const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

function skipScalingList(r: NalBitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) next = (last + r.se() + 256) % 256;
    last = next === 0 ? last : next;
  }
}

/** Parses a sequence parameter set NAL unit (header byte included). */
export function parseSps(nal: Buffer): Sps {
  const r = new NalBitReader(nal, 1, nal.length);
  const profileIdc = r.u(8);
  r.u(16); // constraint flags, reserved, level_idc
  const id = r.ue();
  let chromaFormatIdc = 1;
  let separateColourPlane = false;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = r.ue();
    if (chromaFormatIdc === 3) separateColourPlane = r.flag();
    r.ue(); // bit_depth_luma_minus8
    r.ue(); // bit_depth_chroma_minus8
    r.u1(); // qpprime_y_zero_transform_bypass_flag
    if (r.flag()) {
      const lists = chromaFormatIdc !== 3 ? 8 : 12;
      for (let i = 0; i < lists; i++) if (r.flag()) skipScalingList(r, i < 6 ? 16 : 64);
    }
  }
  const log2MaxFrameNum = r.ue() + 4;
  const pocType = r.ue();
  let log2MaxPocLsb = 0;
  let deltaPicOrderAlwaysZero = false;
  if (pocType === 0) {
    log2MaxPocLsb = r.ue() + 4;
  } else if (pocType === 1) {
    deltaPicOrderAlwaysZero = r.flag();
    r.se(); // offset_for_non_ref_pic
    r.se(); // offset_for_top_to_bottom_field
    const cycle = r.ue();
    for (let i = 0; i < cycle; i++) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.u1(); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.ue() + 1;
  const heightMapUnits = r.ue() + 1;
  const frameMbsOnly = r.flag();
  return {
    id,
    chromaArrayType: separateColourPlane ? 0 : chromaFormatIdc,
    separateColourPlane,
    log2MaxFrameNum,
    pocType,
    log2MaxPocLsb,
    deltaPicOrderAlwaysZero,
    frameMbsOnly,
    picSizeInMapUnits: widthMbs * heightMapUnits,
  };
}

/** Parses a picture parameter set NAL unit (header byte included), up to the fields slices need. */
export function parsePps(nal: Buffer): Pps {
  const r = new NalBitReader(nal, 1, nal.length);
  const id = r.ue();
  const spsId = r.ue();
  const entropyCodingMode = r.flag();
  const bottomFieldPicOrderInFramePresent = r.flag();
  const numSliceGroupsMinus1 = r.ue();
  let sliceGroupMapType = 0;
  let sliceGroupChangeRate = 1;
  if (numSliceGroupsMinus1 > 0) {
    sliceGroupMapType = r.ue();
    if (sliceGroupMapType === 0) {
      for (let i = 0; i <= numSliceGroupsMinus1; i++) r.ue();
    } else if (sliceGroupMapType === 2) {
      for (let i = 0; i < numSliceGroupsMinus1; i++) {
        r.ue();
        r.ue();
      }
    } else if (sliceGroupMapType >= 3 && sliceGroupMapType <= 5) {
      r.u1();
      sliceGroupChangeRate = r.ue() + 1;
    } else if (sliceGroupMapType === 6) {
      const units = r.ue() + 1;
      const bits = Math.ceil(Math.log2(numSliceGroupsMinus1 + 1));
      for (let i = 0; i < units; i++) r.u(bits);
    }
  }
  const numRefIdxL0DefaultActive = r.ue() + 1;
  const numRefIdxL1DefaultActive = r.ue() + 1;
  const weightedPred = r.flag();
  const weightedBipredIdc = r.u(2);
  r.se(); // pic_init_qp_minus26
  r.se(); // pic_init_qs_minus26
  r.se(); // chroma_qp_index_offset
  const deblockingFilterControlPresent = r.flag();
  r.u1(); // constrained_intra_pred_flag
  const redundantPicCntPresent = r.flag();
  return {
    id,
    spsId,
    entropyCodingMode,
    bottomFieldPicOrderInFramePresent,
    numSliceGroupsMinus1,
    sliceGroupMapType,
    sliceGroupChangeRate,
    numRefIdxL0DefaultActive,
    numRefIdxL1DefaultActive,
    weightedPred,
    weightedBipredIdc,
    deblockingFilterControlPresent,
    redundantPicCntPresent,
  };
}

export function avcParams(sps: Buffer[] = [], pps: Buffer[] = []): AvcParams {
  const params: AvcParams = { sps: new Map(), pps: new Map() };
  for (const nal of sps) {
    const s = parseSps(nal);
    params.sps.set(s.id, s);
  }
  for (const nal of pps) {
    const p = parsePps(nal);
    params.pps.set(p.id, p);
  }
  return params;
}

const P = 0;
const B = 1;
const I = 2;
const SP = 3;
const SI = 4;

function skipPredWeightTable(r: NalBitReader, chromaArrayType: number, l0: number, l1: number, b: boolean) {
  r.ue(); // luma_log2_weight_denom
  if (chromaArrayType !== 0) r.ue(); // chroma_log2_weight_denom
  for (const count of b ? [l0, l1] : [l0]) {
    for (let i = 0; i < count; i++) {
      if (r.flag()) {
        r.se();
        r.se();
      }
      if (chromaArrayType !== 0 && r.flag()) {
        for (let j = 0; j < 4; j++) r.se();
      }
    }
  }
}

function skipRefPicListModification(r: NalBitReader): void {
  if (!r.flag()) return;
  for (;;) {
    const idc = r.ue();
    if (idc === 3) return;
    if (idc > 5) throw new Error(`invalid modification_of_pic_nums_idc ${idc}`);
    r.ue(); // abs_diff_pic_num_minus1 / long_term_pic_num / abs_diff_view_idx_minus1
  }
}

/**
 * Length in escaped bytes of the slice header of a coded slice NAL unit (types 1 and 5) whose
 * payload (after the one-byte NAL header) is `buf[start, end)`: every byte holding a slice header bit.
 */
export function sliceHeaderLength(
  buf: Buffer,
  start: number,
  end: number,
  nalType: number,
  nalRefIdc: number,
  params: AvcParams,
): number {
  const r = new NalBitReader(buf, start, end);
  r.ue(); // first_mb_in_slice
  const sliceType = r.ue() % 5;
  const ppsId = r.ue();
  const pps = params.pps.get(ppsId);
  if (!pps) throw new Error(`slice refers to unknown PPS ${ppsId}`);
  const sps = params.sps.get(pps.spsId);
  if (!sps) throw new Error(`PPS ${ppsId} refers to unknown SPS ${pps.spsId}`);
  if (sps.separateColourPlane) r.u(2); // colour_plane_id
  r.u(sps.log2MaxFrameNum); // frame_num
  let fieldPic = false;
  if (!sps.frameMbsOnly) {
    fieldPic = r.flag();
    if (fieldPic) r.u1(); // bottom_field_flag
  }
  const idr = nalType === 5;
  if (idr) r.ue(); // idr_pic_id
  if (sps.pocType === 0) {
    r.u(sps.log2MaxPocLsb); // pic_order_cnt_lsb
    if (pps.bottomFieldPicOrderInFramePresent && !fieldPic) r.se(); // delta_pic_order_cnt_bottom
  }
  if (sps.pocType === 1 && !sps.deltaPicOrderAlwaysZero) {
    r.se(); // delta_pic_order_cnt[0]
    if (pps.bottomFieldPicOrderInFramePresent && !fieldPic) r.se(); // delta_pic_order_cnt[1]
  }
  if (pps.redundantPicCntPresent) r.ue(); // redundant_pic_cnt
  if (sliceType === B) r.u1(); // direct_spatial_mv_pred_flag
  let l0 = pps.numRefIdxL0DefaultActive;
  let l1 = pps.numRefIdxL1DefaultActive;
  if (sliceType === P || sliceType === SP || sliceType === B) {
    if (r.flag()) {
      l0 = r.ue() + 1;
      if (sliceType === B) l1 = r.ue() + 1;
    }
  }
  if (sliceType !== I && sliceType !== SI) {
    skipRefPicListModification(r);
    if (sliceType === B) skipRefPicListModification(r);
  }
  if (
    (pps.weightedPred && (sliceType === P || sliceType === SP)) ||
    (pps.weightedBipredIdc === 1 && sliceType === B)
  ) {
    skipPredWeightTable(r, sps.chromaArrayType, l0, l1, sliceType === B);
  }
  if (nalRefIdc !== 0) {
    // dec_ref_pic_marking
    if (idr) {
      r.u1(); // no_output_of_prior_pics_flag
      r.u1(); // long_term_reference_flag
    } else if (r.flag()) {
      for (;;) {
        const mmco = r.ue();
        if (mmco === 0) break;
        if (mmco > 6) throw new Error(`invalid memory_management_control_operation ${mmco}`);
        if (mmco === 1 || mmco === 3) r.ue(); // difference_of_pic_nums_minus1
        if (mmco === 2) r.ue(); // long_term_pic_num
        if (mmco === 3 || mmco === 6) r.ue(); // long_term_frame_idx
        if (mmco === 4) r.ue(); // max_long_term_frame_idx_plus1
      }
    }
  }
  if (pps.entropyCodingMode && sliceType !== I && sliceType !== SI) r.ue(); // cabac_init_idc
  r.se(); // slice_qp_delta
  if (sliceType === SP || sliceType === SI) {
    if (sliceType === SP) r.u1(); // sp_for_switch_flag
    r.se(); // slice_qs_delta
  }
  if (pps.deblockingFilterControlPresent) {
    if (r.ue() !== 1) {
      r.se(); // slice_alpha_c0_offset_div2
      r.se(); // slice_beta_offset_div2
    }
  }
  if (pps.numSliceGroupsMinus1 > 0 && pps.sliceGroupMapType >= 3 && pps.sliceGroupMapType <= 5) {
    r.u(Math.ceil(Math.log2(sps.picSizeInMapUnits / pps.sliceGroupChangeRate + 1)));
  }
  return r.consumed;
}
