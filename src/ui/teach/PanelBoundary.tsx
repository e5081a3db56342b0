import { Component, type ReactNode } from 'react';
import { PanelHelp } from './PanelHelp';

interface Props {
  /** The panel's name in the sentence shown when it fails. */
  name: string;
  /** Its help id (panel-help-<id>), shown above the panel. */
  helpId?: string;
  /** Anchor for the tour. */
  tourId?: string;
  children: ReactNode;
}

/**
 * One per panel: a panel that throws while drawing shows a sentence (and a retry) instead of taking the
 * whole page down; the other panels keep working.
 */
export class PanelBoundary extends Component<Props, { error?: Error }> {
  override state: { error?: Error } = {};

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  override componentDidCatch(error: Error) {
    // Kept for whoever opens the console; the page itself shows the sentence.
    console.warn(`The ${this.props.name} panel failed:`, error);
  }

  override render() {
    const { error } = this.state;
    return (
      <div className="panel-frame" data-tour={this.props.tourId}>
        {this.props.helpId && <PanelHelp id={this.props.helpId} />}
        {error ? (
          <section className="panel" data-testid="panel-error" role="alert">
            <h2>The {this.props.name} panel stopped</h2>
            <p>
              It failed while drawing ({error.message}). The rest of the page still works; training is not
              affected.
            </p>
            <button type="button" onClick={() => this.setState({ error: undefined })}>
              Try again
            </button>
          </section>
        ) : (
          this.props.children
        )}
      </div>
    );
  }
}
