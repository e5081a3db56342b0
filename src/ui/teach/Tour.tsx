/**
 * The first-visit tour (driver.js): a short walk over the panels in the order a lesson uses them. It never
 * starts by itself over the page (an overlay would swallow the first clicks); a first visit shows an
 * invitation instead. Closing or finishing the tour, or declining it, is remembered across reloads; the
 * header's Tour button reopens it at any time.
 */
import { type Driver, type DriveStep, driver } from 'driver.js';
import 'driver.js/dist/driver.css';
import { useEffect } from 'react';
import { create } from 'zustand';
import { markTourDone, tourDone } from './teach-store';

const STEPS: DriveStep[] = [
  {
    element: '[data-tour="controls"]',
    popover: {
      title: '1 · Set up a run',
      description:
        'Pick a model and data, then the mask ratio: the share of each image that is hidden. SparK hides 60 %.',
    },
  },
  {
    element: '[data-tour="sparse"]',
    popover: {
      title: '2 · What the encoder receives',
      description:
        'A dense convnet gets the image with holes filled by zeros; SparK’s sparse encoder gets only the visible cells — and does less work.',
    },
  },
  {
    element: '[data-tour="histograms"]',
    popover: {
      title: '3 · Why not just fill with zeros?',
      description: 'Zero-filling piles pixels onto 0 and changes what the network sees (paper Figure 1).',
    },
  },
  {
    element: '[data-tour="vanish-lab"]',
    popover: {
      title: '4 · Masks vanish in dense convolutions',
      description:
        'Draw a mask: dense convolutions fill the holes within a layer or two; sparse ones keep them.',
    },
  },
  {
    element: '[data-tour="reconstruction"]',
    popover: {
      title: '5 · Train and look',
      description:
        'Press Start: the model learns to paint the hidden cells back. Choose the “no-leak” view to see what it really knows.',
    },
  },
  {
    element: '[data-tour="scenarios"]',
    popover: {
      title: '6 · Test the paper’s claims',
      description: 'Scenarios set up comparisons (sparse vs zero-filling, how much to hide) for you to run.',
    },
  },
];

function reducedMotion(): boolean {
  return typeof matchMedia === 'function' && matchMedia('(prefers-reduced-motion: reduce)').matches;
}

export function startTour(onEnd: () => void): Driver {
  const steps = STEPS.filter((s) => typeof s.element !== 'string' || document.querySelector(s.element));
  const tour = driver({
    steps,
    showProgress: true,
    animate: !reducedMotion(),
    allowClose: true,
    nextBtnText: 'Next',
    prevBtnText: 'Back',
    doneBtnText: 'Done',
    onPopoverRender: (popover) => {
      popover.nextButton.dataset.testid = 'tour-next';
      popover.closeButton.dataset.testid = 'tour-close';
      popover.closeButton.setAttribute('aria-label', 'Close the tour');
    },
    onDestroyed: () => {
      markTourDone();
      onEnd();
    },
  });
  tour.drive();
  return tour;
}

let current: Driver | undefined;

/** Opens the tour (closing one already open) and hides the first-visit invitation. */
function openTour(): void {
  useInvite.getState().hide();
  current?.destroy();
  current = startTour(() => {
    current = undefined;
  });
}

const useInvite = create<{ shown: boolean; hide: () => void }>((set) => ({
  shown: !tourDone(),
  hide: () => set({ shown: false }),
}));

/** The header's button that (re)opens the tour. */
export function TourButton() {
  useEffect(() => () => current?.destroy(), []);
  return (
    <button type="button" className="tour-button" data-testid="tour" onClick={openTour}>
      Take the tour
    </button>
  );
}

/** Shown on a first visit until the tour is taken or declined. */
export function TourInvite() {
  const invite = useInvite((s) => s.shown);
  const hide = useInvite((s) => s.hide);
  const open = openTour;
  const setInvite = (shown: boolean) => {
    if (!shown) hide();
  };
  return (
    <>
      {invite && (
        <aside className="tour-invite" data-testid="tour-invite" aria-label="First visit">
          <p>
            New here? A six-stop tour shows what to look at first, and each panel has a “What you see · Try
            this” note.
          </p>
          <div className="buttons">
            <button type="button" className="primary" onClick={open}>
              Start the tour
            </button>
            <button
              type="button"
              onClick={() => {
                markTourDone();
                setInvite(false);
              }}
            >
              No thanks
            </button>
          </div>
        </aside>
      )}
    </>
  );
}
