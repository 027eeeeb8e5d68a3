import { PNG } from 'pngjs';
import type { Frame } from '../types.ts';
import type { Box, Gray } from './preprocess.ts';

/** A grey image as PNG bytes. */
export function grayPng(img: Gray): Buffer {
  const png = new PNG({
    width: img.width,
    height: img.height,
    colorType: 0,
    inputColorType: 0,
    inputHasAlpha: false,
  });
  png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  return PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false });
}

/** `box` of an RGB24 frame as PNG bytes. */
export function framePng(frame: Frame, box: Box): Buffer {
  const rgb = Buffer.alloc(box.width * box.height * 3);
  for (let y = 0; y < box.height; y++) {
    const from = ((box.y + y) * frame.width + box.x) * 3;
    rgb.set(frame.data.subarray(from, from + box.width * 3), y * box.width * 3);
  }
  const png = new PNG({
    width: box.width,
    height: box.height,
    colorType: 2,
    inputColorType: 2,
    inputHasAlpha: false,
  });
  png.data = rgb;
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
}
