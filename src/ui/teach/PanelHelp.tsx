/**
 * The guided path's per-panel disclosure: what the panel shows, one thing to try, and where it sits in the
 * SparK paper. One `panel-help-<id>` per panel (a test hook).
 */
export interface HelpText {
  see: string;
  tryThis: string;
  paper: string;
}

export const PANEL_HELP: Record<string, HelpText> = {
  controls: {
    see: 'The settings of a run: model size, data, how much of each image is hidden, batch, steps and seed.',
    tryThis: 'Move the mask ratio and watch the masked previews and the cost meter change before you start.',
    paper: 'Paper §3 and Table 6: SparK hides 60 % of each image by default.',
  },
  reconstruction: {
    see: 'A few images, the same images with the hidden cells painted over, and what the model paints back.',
    tryThis:
      'Switch the reconstruction view to “no-leak” and compare: the official view borrows each hidden patch’s true brightness and contrast.',
    paper: 'Paper Figure 4 (reconstructions) and the official visualisation notebook.',
  },
  metrics: {
    see: 'The masked-patch loss as training goes on, and the speed of each step.',
    tryThis: 'Run a few hundred steps of tiny: the loss falls fast at first, then slowly.',
    paper:
      'Paper §3.3: the loss is the mean squared error on hidden patches, each normalised by its own mean and spread.',
  },
  watch: {
    see: 'A few held-out images that no run trains on, masked at the slider’s ratio, and every compared run’s reconstruction of them.',
    tryThis:
      'Move the slider: the masks are nested, so a lower ratio uncovers cells and never hides new ones. Hide cells by hand in “Your own mask”.',
    paper: 'Paper Figure 4 and the official notebook’s “specified mask”.',
  },
  runs: {
    see: 'Every run you started, its state and what differs from the first selected one.',
    tryThis: 'Tick two runs to overlay their curves and put their reconstructions side by side.',
    paper: 'The paper’s ablation tables compare runs that differ in one switch, as this table does.',
  },
  probe: {
    see: 'How well the pre-trained encoder’s features separate the classes (k-NN and an optional linear probe), next to a randomly initialised encoder and chance.',
    tryThis:
      'Probe a run after a few hundred steps and compare it with random initialisation: pre-training should lift it above. After a mask sweep, “Probe kept runs” puts each run’s k-NN beside its loss in the runs table: a higher mask ratio has a higher loss, not necessarily worse features.',
    paper:
      'The paper judges pre-training by fine-tuning on ImageNet, COCO and ADE20K; a probe on small data is a quick stand-in.',
  },
  histograms: {
    see: 'How pixel values are distributed in the original images, after zero-masking, and in the visible part only.',
    tryThis:
      'Raise the mask ratio: the spike at 0 grows for zero-masking while “visible only” keeps the original shape.',
    paper: 'Paper Figure 1: zero-outing shifts the input distribution; sparse encoding does not.',
  },
  sparse: {
    see: 'What a dense encoder receives (the whole image, holes filled with 0) next to what SparK’s sparse encoder receives (only the visible cells), and the work each does.',
    tryThis:
      'Drag the mask ratio from 0.4 to 0.8: active sites and the sparse encoder’s FLOPs fall in proportion.',
    paper: 'Paper Figure 2: masked images as sparse voxels, encoded by sparse convolution at every scale.',
  },
  vanishing: {
    see: 'Three masks from the paper after dense and sparse 3×3 convolutions.',
    tryThis:
      'Count the masked pixels: dense convolutions erase the holes within two layers; sparse ones keep them.',
    paper: 'Paper Figure 3: mask pattern vanishing.',
  },
  'vanish-lab': {
    see: 'Your own mask after 1–4 dense convolutions and after the same number of sparse ones.',
    tryThis:
      'Draw a thin line of masked pixels and set the depth to 1: a single dense convolution already closes it.',
    paper: 'Paper Figure 3, with your own pattern.',
  },
  webcam: {
    see: 'Frames from your camera, sent now and then into the training images; with a run, the live frame masked at its ratio and filled in by the current model.',
    tryThis: 'Start the camera, choose “Your images” and train: the model learns to fill in your room.',
    paper: 'Not in the paper: SparK pre-trains on ImageNet; this shows the same method on your own pictures.',
  },
  scenarios: {
    see: 'Prepared comparisons of the paper’s claims, each set up as runs you can start.',
    tryThis: 'Pick “How much to hide?” and run the three ratios one after another.',
    paper: 'Paper Tables 4–6 (ablations), measured there by fine-tuning accuracy on ImageNet.',
  },
};

export function PanelHelp(props: { id: keyof typeof PANEL_HELP | string }) {
  const help = PANEL_HELP[props.id];
  if (!help) return null;
  return (
    <details className="panel-help" data-testid={`panel-help-${props.id}`}>
      <summary>What you see · Try this · Paper</summary>
      <dl>
        <dt>What you see</dt>
        <dd>{help.see}</dd>
        <dt>Try this</dt>
        <dd>{help.tryThis}</dd>
        <dt>In the paper</dt>
        <dd>{help.paper}</dd>
      </dl>
    </details>
  );
}
