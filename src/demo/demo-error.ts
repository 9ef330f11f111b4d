/** A part of the demo could not start; the message says what to do. */
export class DemoError extends Error {
  override readonly name = 'DemoError';
}
