import { describe, expect, it } from 'vitest';
import { ArgsError, isDirectoryNode, parseTrainArgs, TRAIN_USAGE } from './args';

const presets = ['tiny', 'r64', 'r128', 'convnext'];
const parse = (line: string, isDirectory = (p: string) => p === 'my/images') =>
  parseTrainArgs(line.split(' ').filter(Boolean), { presets, isDirectory });

describe('parseTrainArgs', () => {
  it('parses the documented command line', () => {
    expect(parse('--preset tiny --data fashion --steps 300 --seed 0 --out runs/x --json')).toEqual({
      preset: 'tiny',
      data: { kind: 'fashion-mnist' },
      steps: 300,
      seed: 0,
      out: 'runs/x',
      json: true,
      resume: false,
      batch: undefined,
      lr: undefined,
      maskRatio: undefined,
      imageSize: undefined,
      optimizer: undefined,
      crop: undefined,
      logEvery: 10,
      checkpointEvery: 100,
      gridEvery: 100,
      heldOut: 64,
      config: undefined,
      init: undefined,
      model: [],
      help: false,
    });
  });

  it('fills defaults, accepts --flag=value and every override', () => {
    const a = parse(
      '--data=photos --seed=7 --batch 16 --lr 2e-4 --mask-ratio 0.75 --drop-path 0.1 --image-size 64 --optimizer adamw --crop native --log-every 5 --checkpoint-every 0 --grid-every 50 --held-out 8',
    );
    expect(a).toMatchObject({
      preset: 'tiny',
      data: { kind: 'photos' },
      steps: 300,
      seed: 7,
      out: 'runs/tiny-photos-s7',
      batch: 16,
      lr: 2e-4,
      maskRatio: 0.75,
      dropPath: 0.1,
      imageSize: 64,
      optimizer: 'adamw',
      crop: 'native',
      logEvery: 5,
      checkpointEvery: 0,
      gridEvery: 50,
      heldOut: 8,
    });
    expect(parse('--data my/images --resume --out runs/y')).toMatchObject({
      data: { kind: 'folder', path: 'my/images' },
      resume: true,
    });
    expect(parse('--help').help).toBe(true);
    expect(TRAIN_USAGE).toContain('--mask-ratio X');
  });

  const mistakes: [string, string][] = [
    ['--stpes 10', 'Unknown option --stpes. Did you mean --steps? Run with --help for the list.'],
    ['--frobnicate 1', 'Unknown option --frobnicate. Run with --help for the list.'],
    ['300', 'Unexpected argument "300": options start with --, e.g. --steps 300.'],
    ['--steps', '--steps needs a value.'],
    ['--out --json', '--out needs a value.'],
    ['--steps ten', '--steps must be a number, not "ten".'],
    ['--steps 2.5', '--steps must be a whole number, not 2.5.'],
    ['--steps 0', '--steps must be at least 1, not 0.'],
    ['--seed -1', '--seed cannot be negative (-1).'],
    ['--seed 4294967296', '--seed must fit in 32 bits (at most 4294967295), not 4294967296.'],
    ['--steps 5 --steps 6', '--steps is given twice; keep one.'],
    ['--json=yes', '--json is a switch and takes no value.'],
    ['--preset huge', 'There is no preset "huge"; choose one of: tiny, r64, r128, convnext.'],
    [
      '--data nowhere',
      '--data nowhere is neither "fashion", "photos" nor a folder that exists; give one of those.',
    ],
    ['--optimizer sgd', '--optimizer must be lamb or adamw, not "sgd".'],
    ['--crop center', '--crop must be random-resized or native, not "center".'],
    [
      '--crop native',
      '--crop applies to photos and folders; Fashion-MNIST images are padded or resized whole.',
    ],
    ['--mask-ratio 1', '--mask-ratio must be at least 0 and below 1 (some cells must stay visible), not 1.'],
    ['--drop-path 1', '--drop-path must be at least 0 and below 1 (0 = off), not 1.'],
    ['--lr 0', '--lr must be a positive number, not 0.'],
    ['--batch 1', '--batch must be at least 2: BatchNorm needs more than one image per step (got 1).'],
    ['--resume', '--resume needs --out DIR: the folder whose last checkpoint to continue from.'],
  ];
  for (const [line, message] of mistakes) {
    it(`explains: ${line}`, () => {
      expect(() => parse(line)).toThrow(ArgsError);
      expect(() => parse(line)).toThrow(message);
    });
  }
});

describe('isDirectoryNode', () => {
  it('is true for a folder only', () => {
    expect(isDirectoryNode('public/data/photos')).toBe(true);
    expect(isDirectoryNode('public/data/LICENSES.md')).toBe(false);
    expect(isDirectoryNode('no/such/folder')).toBe(false);
  });
});
