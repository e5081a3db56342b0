import { describe, expect, it } from 'vitest';
import { decodeLink, ENGINE_VERSION, encodeLink } from './link';
import { checkForm, DEFAULT_FORM, formForPreset, type PlaygroundForm } from './run-config';

describe('shareable links', () => {
  it('round-trip every setting of a non-default form, the ablations and the panel', () => {
    const form: PlaygroundForm = {
      ...formForPreset('resnet-s8-32'),
      dataset: 'photos',
      maskRatio: 0.75,
      batchSize: 6,
      steps: 123,
      seed: 42,
      lr: '3e-3',
      encoder: 'dense-zero',
      decoderInputs: 'coarsest',
      maskToken: 'zeros',
      lossTarget: 'raw',
      lossOn: 'all',
      decoderWidth: '64',
      widths: '16, 32, 64',
      depths: '1,1,2',
      optimizer: 'adamw',
      weightDecay: '0.05',
    };
    const hash = encodeLink({ form, panel: 'lab' });
    expect(hash).toMatch(new RegExp(`^#v=${ENGINE_VERSION.replace(/\./g, '\\.')}&`));
    const decoded = decodeLink(hash);
    expect(decoded.notices).toEqual([]);
    expect(decoded.present).toBe(true);
    expect(decoded.panel).toBe('lab');
    expect(decoded.form).toEqual(form);
    expect(checkForm(decoded.form).ok).toBe(true);
  });

  it('an empty hash is no link; blank fields stay blank (the preset decides)', () => {
    expect(decodeLink('')).toMatchObject({ present: false, notices: [], form: DEFAULT_FORM });
    const decoded = decodeLink(encodeLink({ form: DEFAULT_FORM }));
    expect(decoded.form).toEqual(DEFAULT_FORM);
    expect(decoded.notices).toEqual([]);
  });

  it('bad values fall back to the defaults and are named; another engine version and user images are said', () => {
    const decoded = decodeLink(
      '#v=0.0.1&preset=huge&mask=1.5&batch=1&steps=ten&encoder=magic&token=zeros&data=user&panel=<x>',
    );
    expect(decoded.form).toEqual({ ...DEFAULT_FORM, maskToken: 'zeros' });
    expect(decoded.notices[0]).toMatch(
      /values this page cannot use \(preset=huge, mask=1.5, batch=1, steps=ten, encoder=magic, panel=<x>\); the defaults are used/,
    );
    expect(decoded.notices.some((n) => /own images, which a link cannot carry/.test(n))).toBe(true);
    expect(
      decoded.notices.some((n) => /engine version 0\.0\.1; this page runs .*numbers may differ/.test(n)),
    ).toBe(true);
    expect(decodeLink('#garbage%%%').present).toBe(false);
  });
});
