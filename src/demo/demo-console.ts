/**
 * The demo's output: log lines scroll, and one progress line stays at the bottom on a terminal (elsewhere
 * it is printed as an ordinary line every few seconds).
 */
export class DemoConsole {
  private progressText = '';
  private lastPlainProgress = 0;

  constructor(private readonly out: NodeJS.WritableStream & { isTTY?: boolean }) {}

  line(text: string): void {
    if (this.out.isTTY && this.progressText) this.out.write(`\r\x1b[K${text}\n${this.progressText}`);
    else this.out.write(`${text}\n`);
  }

  progress(text: string): void {
    if (this.out.isTTY) {
      this.progressText = text;
      this.out.write(`\r\x1b[K${text}`);
    } else if (Date.now() - this.lastPlainProgress >= 2_000) {
      this.lastPlainProgress = Date.now();
      this.out.write(`${text}\n`);
    }
  }

  /** Ends the progress line, so what follows starts on a line of its own. */
  endProgress(): void {
    if (this.out.isTTY && this.progressText) this.out.write('\n');
    this.progressText = '';
  }
}
