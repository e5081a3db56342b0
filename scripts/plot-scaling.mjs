// `node scripts/plot-scaling.mjs LINES.jsonl [OUT.svg]`: the scaling benchmark's JSON lines (npm run bench --
// scaling) as a Markdown table on stdout and an SVG plot (default docs/img/scaling.svg): step time (left) and
// GPU bytes (right) against pixels per step (batch · size²), log–log, one series per encoder, each point
// labelled "size px × batch". Plain SVG written here, no plotting library.
import { readFileSync, writeFileSync } from 'node:fs';

const [input, output = 'docs/img/scaling.svg'] = process.argv.slice(2);
if (!input) {
  console.error('usage: node scripts/plot-scaling.mjs LINES.jsonl [OUT.svg]');
  process.exit(2);
}
const rows = readFileSync(input, 'utf8')
  .split('\n')
  .filter((l) => l.startsWith('{"case":"scaling"'))
  .map((l) => JSON.parse(l))
  .sort((a, b) => a.size * a.size * a.batch - b.size * b.size * b.batch);
if (rows.length === 0) throw new Error(`${input} holds no scaling lines.`);
const denseKey = rows[0].denseMs !== undefined ? 'dense' : 'denseZero';
const denseName = denseKey === 'dense' ? 'dense-masked' : 'dense-zero';
const MiB = 2 ** 20;

console.log(
  `| size | batch | pixels/step | sparse ms | ${denseName} ms | time ratio | sparse MiB | ${denseName} MiB |`,
);
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows)
  console.log(
    `| ${r.size} | ${r.batch} | ${r.batch * r.size * r.size} | ${r.sparseMs} | ${r[`${denseKey}Ms`]} | ${(r.sparseMs / r[`${denseKey}Ms`]).toFixed(2)} | ${(r.sparseBytes / MiB).toFixed(1)} | ${(r[`${denseKey}Bytes`] / MiB).toFixed(1)} |`,
  );

const W = 420;
const H = 300;
const M = { left: 62, right: 16, top: 34, bottom: 46 };
const SERIES = [
  { key: 'sparse', name: 'sparse (mask 0.6)', colour: '#1f77b4', dash: '' },
  { key: denseKey, name: denseName, colour: '#d62728', dash: '6 4' },
];
const log = Math.log10;

function panel(x0, title, unit, value) {
  const xs = rows.map((r) => r.batch * r.size * r.size);
  const ys = rows.flatMap((r) => SERIES.map((s) => value(r, s.key))).filter((v) => v > 0);
  const [xMin, xMax] = [Math.min(...xs) / 1.3, Math.max(...xs) * 1.3];
  const [yMin, yMax] = [Math.min(...ys) / 1.5, Math.max(...ys) * 1.5];
  const px = (x) => x0 + M.left + ((log(x) - log(xMin)) / (log(xMax) - log(xMin))) * (W - M.left - M.right);
  const py = (y) => M.top + (1 - (log(y) - log(yMin)) / (log(yMax) - log(yMin))) * (H - M.top - M.bottom);
  const out = [
    `<text x="${x0 + W / 2}" y="18" text-anchor="middle" font-weight="bold">${title}</text>`,
    `<rect x="${x0 + M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#888"/>`,
  ];
  for (let e = Math.ceil(log(yMin)); e <= Math.floor(log(yMax)); e++)
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v < yMin || v > yMax) continue;
      out.push(
        `<line x1="${x0 + M.left}" x2="${x0 + W - M.right}" y1="${py(v)}" y2="${py(v)}" stroke="#eee"/>`,
        `<text x="${x0 + M.left - 4}" y="${py(v) + 4}" text-anchor="end" font-size="10">${v >= 1000 ? `${v / 1000}k` : v}</text>`,
      );
    }
  for (const x of [...new Set(xs)])
    out.push(
      `<text x="${px(x)}" y="${H - M.bottom + 14}" text-anchor="middle" font-size="9">${(x / 1000).toFixed(0)}k</text>`,
    );
  out.push(
    `<text x="${x0 + W / 2 + 20}" y="${H - 8}" text-anchor="middle" font-size="11">pixels per step (batch · size²)</text>`,
    `<text x="${x0 + 14}" y="${H / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 ${x0 + 14} ${H / 2})">${unit}</text>`,
  );
  for (const s of SERIES) {
    const points = rows.map((r) => [px(r.batch * r.size * r.size), py(value(r, s.key))]);
    out.push(
      `<polyline fill="none" stroke="${s.colour}" stroke-width="2" stroke-dasharray="${s.dash}" points="${points.map((p) => p.map((v) => v.toFixed(1)).join(',')).join(' ')}"/>`,
    );
    for (const [i, [x, y]] of points.entries()) {
      out.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3" fill="${s.colour}"/>`);
      if (s.key === 'sparse')
        out.push(
          `<text x="${(x + 4).toFixed(1)}" y="${(y + 12).toFixed(1)}" font-size="9" fill="#444">${rows[i].size}px×${rows[i].batch}</text>`,
        );
    }
  }
  return out;
}

const body = [
  ...panel(0, 'Step time', 'ms per step', (r, k) => r[`${k}Ms`]),
  ...panel(W, 'GPU memory', 'MiB (model + optimiser)', (r, k) => r[`${k}Bytes`] / MiB),
];
SERIES.forEach((s, i) => {
  const y = M.top + 12 + i * 16;
  body.push(
    `<line x1="${M.left + 10}" x2="${M.left + 34}" y1="${y - 4}" y2="${y - 4}" stroke="${s.colour}" stroke-width="2" stroke-dasharray="${s.dash}"/>`,
    `<text x="${M.left + 40}" y="${y}" font-size="11">${s.name}</text>`,
  );
});
const adapter = rows[0].adapter.replace(/&/g, '&amp;').replace(/</g, '&lt;');
body.push(
  `<text x="${W}" y="${H + 14}" text-anchor="middle" font-size="10" fill="#555">${rows[0].preset}, ${adapter}</text>`,
);
writeFileSync(
  output,
  `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H + 22}" font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" fill="white"/>\n${body.join('\n')}\n</svg>\n`,
);
console.error(`wrote ${output}`);
