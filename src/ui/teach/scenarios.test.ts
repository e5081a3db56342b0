import { describe, expect, it } from 'vitest';
import { DEFAULT_FORM } from '../run-config';
import { SCENARIOS, scenarioForms, scenarioLink } from './Scenarios';

describe('scenarios go through the link format', () => {
  it('the mask-ratio scenario is three runs at 0.4, 0.6 and 0.8, otherwise equal', () => {
    const scenario = SCENARIOS.find((s) => s.id === 'mask-ratio');
    if (!scenario) throw new Error('no mask-ratio scenario');
    const forms = scenarioForms(scenario, { ...DEFAULT_FORM, seed: 5 });
    expect(forms.map((f) => f.maskRatio)).toEqual([0.4, 0.6, 0.8]);
    for (const f of forms) expect({ ...f, maskRatio: 0 }).toEqual({ ...forms[0], maskRatio: 0 });
    expect(forms[0].preset).toBe('tiny');
    expect(scenarioLink(scenario.runs[2], DEFAULT_FORM)).toMatch(/[#&]mask=0\.8(&|$)/);
  });

  it('each ablation scenario differs from SparK in exactly the switch it studies', () => {
    const expectations: Record<string, string[]> = {
      'why-sparse': ['encoder'],
      'tokens-pyramid': ['maskToken', 'decoderInputs'],
    };
    for (const [id, fields] of Object.entries(expectations)) {
      const scenario = SCENARIOS.find((s) => s.id === id);
      if (!scenario) throw new Error(`no ${id} scenario`);
      const [spark, ...others] = scenarioForms(scenario, DEFAULT_FORM);
      const changed = others.map((form) =>
        (Object.keys(form) as (keyof typeof form)[]).filter((k) => form[k] !== spark[k]),
      );
      expect(changed.flat().sort()).toEqual([...fields].sort());
    }
  });
});
