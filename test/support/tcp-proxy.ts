import { createConnection, createServer, type Server, type Socket } from 'node:net';

export type ProxyMode = 'pass' | 'hold';

/**
 * A TCP proxy on loopback between one process and a server. In `hold` mode it stops moving bytes in both
 * directions and accepts new connections without forwarding them, closing nothing: the connection goes
 * silent, as a dead network path or a half-open socket does. `pass` resumes, flushing nothing that was held
 * (held bytes are dropped, so the peers see a stream that lost data and usually reset it).
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<[Socket, Socket]>();
  private mode: ProxyMode = 'pass';
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      client.on('error', () => undefined);
      if (this.mode === 'hold') {
        client.pause(); // accepted, never answered
        this.held.add(client);
        return;
      }
      const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      const forward = (from: Socket, to: Socket) =>
        from.on('data', (chunk) => {
          if (this.mode === 'pass') to.write(chunk);
        });
      forward(client, upstream);
      forward(upstream, client);
      const close = () => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('close', close);
      upstream.on('close', close);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  private readonly held = new Set<Socket>();

  hold(): void {
    this.mode = 'hold';
  }

  /** Resumes forwarding; connections that were silent are reset, as a healed path with lost state would be. */
  heal(): void {
    this.mode = 'pass';
    for (const [client, upstream] of this.pairs) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    this.pairs.clear();
    for (const s of this.held) s.resetAndDestroy();
    this.held.clear();
  }

  async stop(): Promise<void> {
    this.heal();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
