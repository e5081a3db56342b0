/**
 * Every problem with a PyTorch checkpoint ends in a `PthError` whose message is one sentence a user can act
 * on (what is wrong with which file, and what to do where there is something to do).
 */
export class PthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PthError';
  }
}
