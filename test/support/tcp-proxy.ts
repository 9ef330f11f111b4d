import { createConnection, createServer, type Server, type Socket } from 'node:net';

export type ProxyMode = 'pass' | 'hold' | 'blackhole';

/**
 * A TCP proxy on loopback between one process and a server. In `hold` mode it stops moving bytes in both
 * directions and accepts new connections without forwarding them, closing nothing: the connection goes
 * silent, as a dead network path or a half-open socket does. In `blackhole` mode, also a side that closes is
 * not passed on (a path that loses every packet, FIN and RST included). `pass` resumes, flushing nothing that
 * was held (held bytes are dropped, so the peers see a stream that lost data and usually reset it).
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
      if (this.mode !== 'pass') {
        client.pause(); // accepted, never answered
        this.held.add(client);
        return;
      }
      const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
      // A blackhole passes nothing on, not even that one side went away: heal() resets both sides then.
      const passOn = (end: () => void) => () => {
        if (this.mode !== 'blackhole') end();
      };
      const endClient = passOn(() => client.destroy());
      const endUpstream = passOn(() => upstream.destroy());
      upstream.on('error', endClient);
      client.on('error', endUpstream);
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
      client.on('close', passOn(close));
      upstream.on('close', passOn(close));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  private readonly held = new Set<Socket>();

  hold(): void {
    this.mode = 'hold';
  }

  /**
   * hold(), and a side that closes meanwhile is not passed on either: if the client's process dies, the
   * server keeps its side open (and its transaction, until it times out), as across a path that loses every
   * packet. heal() resets both sides.
   */
  blackhole(): void {
    this.mode = 'blackhole';
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
